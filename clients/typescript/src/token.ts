import { StudioError, StudioUnauthenticatedError } from "./errors.js";

/** tokenFrom returns the Bearer token of an Authorization header, else the named cookie, else "". */
export function tokenFrom(authorization: string | null | undefined, cookieHeader: string | null | undefined, cookie?: string): string {
  if (authorization) {
    const i = authorization.indexOf(" ");
    const scheme = i < 0 ? authorization : authorization.slice(0, i);
    return scheme.toLowerCase() === "bearer" && i >= 0 ? authorization.slice(i + 1).trim() : "";
  }
  if (cookie && cookieHeader) {
    for (const part of cookieHeader.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === cookie) {
        const v = part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
        try {
          return decodeURIComponent(v);
        } catch {
          return v;
        }
      }
    }
  }
  return "";
}

/** The status and body (Studio's JSON error form) to answer a request with when validation failed or had no token. */
export function refusal(err: unknown | null): { status: number; body: { error: { code: string; message: string; reason?: string } } } {
  if (err === null) {
    return { status: 401, body: { error: { code: "missing_token", message: "a session token is required" } } };
  }
  if (err instanceof StudioUnauthenticatedError) {
    const code = err.code || (err.reason === "malformed" ? "invalid_token" : "invalid_session");
    const error: { code: string; message: string; reason?: string } = { code, message: "the session token was refused" };
    if (err.reason) error.reason = err.reason;
    return { status: 401, body: { error } };
  }
  if (err instanceof StudioError) {
    return { status: 503, body: { error: { code: "unavailable", message: "the session service is unavailable; try again" } } };
  }
  throw err;
}
