import { StudioClient, type Session, type StudioClientOptions } from "./client.js";
import { refusal, tokenFrom } from "./token.js";

export interface WithStudioSessionOptions extends Partial<StudioClientOptions> {
  /** Also take the token from this cookie when there is no Authorization header. */
  cookie?: string;
  /** A client to share; otherwise one is made from the other options (baseUrl required). */
  client?: StudioClient;
}

/**
 * Wraps a Next.js route handler (Web Request → Response): the handler is
 * called with the caller's Session added to its context; a request
 * without a valid token gets 401, and 503 when Studio cannot answer, in
 * Studio's JSON error form.
 *
 *   export const GET = withStudioSession(async (req, { session }) => Response.json({ user: session.userId }), { baseUrl, cookie: "sid" });
 */
export function withStudioSession<C extends object = {}>(
  handler: (req: Request, ctx: C & { session: Session }) => Response | Promise<Response>,
  opts: WithStudioSessionOptions,
): (req: Request, ctx?: C) => Promise<Response> {
  const client = opts.client ?? new StudioClient(opts as StudioClientOptions);
  return async (req, ctx) => {
    const token = tokenFrom(req.headers.get("authorization"), req.headers.get("cookie"), opts.cookie);
    if (!token) return refusalResponse(null);
    let session: Session;
    try {
      session = await client.validate(token, { signal: req.signal });
    } catch (e) {
      return refusalResponse(e);
    }
    return handler(req, { ...(ctx ?? ({} as C)), session });
  };
}

function refusalResponse(err: unknown | null): Response {
  const r = refusal(err);
  const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store" };
  if (r.status === 401) headers["www-authenticate"] = 'Bearer error="invalid_token"';
  return new Response(JSON.stringify(r.body) + "\n", { status: r.status, headers });
}
