import type { IncomingMessage, ServerResponse } from "node:http";
import { StudioClient, type Session, type StudioClientOptions } from "./client.js";
import { refusal, tokenFrom } from "./token.js";

export interface StudioSessionOptions extends Partial<StudioClientOptions> {
  /** Also take the token from this cookie when there is no Authorization header. */
  cookie?: string;
  /** A client to share; otherwise one is made from the other options (baseUrl required). */
  client?: StudioClient;
}

/** A request after studioSession: the caller's session. */
export type StudioRequest = IncomingMessage & { studioSession?: Session };

/**
 * Express (or Connect) middleware: validates the token of each request
 * (Authorization: Bearer, else the cookie) and sets req.studioSession
 * before calling next(). Otherwise it answers in Studio's JSON error form:
 * 401 without a token or when Studio refuses it (with code and reason),
 * 503 when Studio cannot answer — never calling next() unchecked.
 */
export function studioSession(opts: StudioSessionOptions) {
  const client = opts.client ?? new StudioClient(opts as StudioClientOptions);
  return function studioSessionMiddleware(req: StudioRequest, res: ServerResponse, next: (err?: unknown) => void): void {
    const token = tokenFrom(req.headers.authorization, req.headers.cookie, opts.cookie);
    const answer = (err: unknown | null) => {
      let r;
      try {
        r = refusal(err);
      } catch (e) {
        next(e);
        return;
      }
      res.statusCode = r.status;
      res.setHeader("content-type", "application/json");
      res.setHeader("cache-control", "no-store");
      if (r.status === 401) res.setHeader("www-authenticate", 'Bearer error="invalid_token"');
      res.end(JSON.stringify(r.body) + "\n");
    };
    if (!token) return answer(null);
    client.validate(token).then(
      (s) => {
        req.studioSession = s;
        next();
      },
      (e) => answer(e),
    );
  };
}
