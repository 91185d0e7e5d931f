import {
  StudioBadRequestError,
  StudioError,
  StudioForbiddenError,
  StudioTimeoutError,
  StudioUnauthenticatedError,
  StudioUnavailableError,
} from "./errors.js";

/** A live login as Studio reports it. It holds no token. */
export interface Session {
  id: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  /** Seconds; 0 when the session has no idle timeout. */
  idleTimeoutSeconds: number;
  metadata: Record<string, string>;
}

/** What create sends. Only userId is required. */
export interface CreateRequest {
  userId: string;
  /** Lifetime in seconds (1 s to 366 days); Studio's default (24 h) when absent. */
  ttlSeconds?: number;
  /** Idle timeout in seconds (≥ 120 and ≤ ttl); none when absent. */
  idleTimeoutSeconds?: number;
  metadata?: Record<string, string>;
}

/** How validate and revoke are repeated; create and revokeUser never are. */
export interface RetryPolicy {
  /** Tries in all, the first included; 1 turns retries off. Default 3. */
  attempts?: number;
  /** The wait before the second try, doubled per retry and jittered. Default 25. */
  baseDelayMs?: number;
  /** The longest wait. Default 250. */
  maxDelayMs?: number;
}

export interface StudioClientOptions {
  /** Studio's base URL, e.g. "http://studio.internal:8080". */
  baseUrl: string;
  /** Sent by create and revokeUser. Never appears in errors. */
  adminToken?: string;
  /** Bounds each attempt. Default 2000. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  userAgent?: string;
  /** The fetch to use; default the global one (keep-alive by default in Node). */
  fetch?: typeof fetch;
}

interface Call {
  op: string;
  method: string;
  path: string;
  auth?: string;
  admin?: boolean;
  body?: string;
  retry?: boolean;
  signal?: AbortSignal;
}

interface Answer {
  status: number;
  json: any;
}

/** Per-call options. */
export interface CallOptions {
  /** Ends the call (retries included) early. */
  signal?: AbortSignal;
}

/**
 * A client of one Studio. Safe to share: make one per Studio. It never
 * reports a session as valid unless Studio said so; every failure is a
 * StudioError subclass, and no raw token appears in one.
 */
export class StudioClient {
  readonly #base: string;
  readonly #admin: string;
  readonly #timeoutMs: number;
  readonly #retry: Required<RetryPolicy>;
  readonly #ua: string;
  readonly #fetch: typeof fetch;

  constructor(opts: StudioClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.baseUrl);
    } catch {
      throw new TypeError("studio client: baseUrl is not a URL");
    }
    if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search || u.hash || u.username) {
      throw new TypeError("studio client: baseUrl must be http(s)://host[:port][/path] with no user, query or fragment");
    }
    this.#base = u.toString().replace(/\/+$/, "");
    this.#admin = opts.adminToken ?? "";
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    if (!(this.#timeoutMs > 0)) throw new TypeError("studio client: timeoutMs must be positive");
    this.#retry = { attempts: 3, baseDelayMs: 25, maxDelayMs: 250, ...opts.retry };
    this.#ua = opts.userAgent ?? "studio-ts-client/1";
    this.#fetch = opts.fetch ?? fetch;
  }

  /**
   * Asks Studio whether token belongs to a live session and returns it.
   * Throws StudioUnauthenticatedError (with the reason) on a refusal and
   * StudioUnavailableError when Studio does not answer. Retried.
   */
  async validate(token: string, opts: CallOptions = {}): Promise<Session> {
    if (!plausibleToken(token)) throw malformed("validate");
    const a = await this.#do({ op: "validate", method: "GET", path: "/v1/session", auth: token, retry: true, signal: opts.signal });
    return toSession("validate", a);
  }

  /**
   * Creates a session (admin). Sent once, never retried: after a
   * StudioUnavailableError the session may or may not exist.
   */
  async create(req: CreateRequest, opts: CallOptions = {}): Promise<{ token: string; session: Session }> {
    const body = JSON.stringify({
      user_id: req.userId,
      ttl: req.ttlSeconds,
      idle_timeout: req.idleTimeoutSeconds,
      metadata: req.metadata,
    });
    const a = await this.#do({ op: "create", method: "POST", path: "/v1/sessions", auth: this.#admin, admin: true, body, signal: opts.signal });
    const session = toSession("create", a);
    const token = a.json?.token;
    if (typeof token !== "string" || token === "") throw invalid("create", a.status, "response holds no token");
    return { token, session };
  }

  /** Revokes the session of token everywhere. Idempotent, so retried. */
  async revoke(token: string, opts: CallOptions = {}): Promise<void> {
    if (!plausibleToken(token)) throw malformed("revoke");
    await this.#do({ op: "revoke", method: "DELETE", path: "/v1/session", auth: token, retry: true, signal: opts.signal });
  }

  /** Revokes every live session of userId (admin) and returns how many. Never retried. */
  async revokeUser(userId: string, opts: CallOptions = {}): Promise<number> {
    if (!userId) throw new StudioBadRequestError({ op: "revoke user", message: "userId is empty" });
    const a = await this.#do({
      op: "revoke user",
      method: "DELETE",
      path: `/v1/users/${encodeURIComponent(userId)}/sessions`,
      auth: this.#admin,
      admin: true,
      signal: opts.signal,
    });
    const n = a.json?.revoked;
    if (!Number.isInteger(n) || n < 0) throw invalid("revoke user", a.status, "response holds no revoked count");
    return n;
  }

  async #do(c: Call): Promise<Answer> {
    const attempts = c.retry ? Math.max(1, this.#retry.attempts) : 1;
    for (let i = 1; ; i++) {
      let err: StudioError;
      try {
        return await this.#once(c, i);
      } catch (e) {
        if (!(e instanceof StudioError)) throw e;
        err = e;
      }
      if (i >= attempts || !retryable(err) || c.signal?.aborted) throw err;
      await sleep(backoff(this.#retry, i), c.signal);
    }
  }

  async #once(c: Call, attempt: number): Promise<Answer> {
    const headers: Record<string, string> = { accept: "application/json", "user-agent": this.#ua };
    if (c.auth) headers.authorization = `Bearer ${c.auth}`;
    if (c.body !== undefined) headers["content-type"] = "application/json";
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = c.signal && typeof AbortSignal.any === "function" ? AbortSignal.any([timeout, c.signal]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(this.#base + c.path, { method: c.method, headers, body: c.body, signal, redirect: "manual" });
      text = await res.text();
    } catch (e) {
      const timedOut = timeout.aborted || (e as Error)?.name === "TimeoutError";
      const d = { op: c.op, attempts: attempt, message: describe(e), cause: e };
      throw timedOut ? new StudioTimeoutError(d) : new StudioUnavailableError(d);
    }
    return interpret(c, res.status, text, attempt);
  }
}

/** interpret turns one answer into an Answer or the error to throw. */
function interpret(c: { op: string; admin?: boolean }, status: number, text: string, attempt = 1): Answer {
  let json: any;
  let parsed = false;
  if (text.trim() !== "") {
    try {
      json = JSON.parse(text);
      parsed = true;
    } catch {
      /* handled below */
    }
  }
  if (status >= 200 && status < 300) {
    if (status === 204) return { status, json: undefined };
    if (!parsed || json === null || typeof json !== "object" || Array.isArray(json)) {
      throw invalid(c.op, status, text.trim() === "" ? "empty response body" : "response is not a JSON object", attempt);
    }
    return { status, json };
  }
  const e = parsed && json && typeof json === "object" ? json.error : undefined;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : undefined;
  const d = { op: c.op, status, code, message, attempts: attempt };
  if (!code) return fail(new StudioUnavailableError({ ...d, message: "the answer is not Studio's error JSON" }));
  // A 429 too_many_attempts answers a wrong admin token over Studio's
  // budget (a right one is never throttled): retrying would only spend it.
  if ((status === 401 && c.admin) || status === 403 || (status === 429 && c.admin && code === "too_many_attempts")) {
    return fail(new StudioForbiddenError(d));
  }
  if (status === 401) {
    let reason: string | undefined = typeof e.reason === "string" && e.reason ? e.reason : undefined;
    if (!reason && code === "invalid_token") reason = "malformed";
    return fail(new StudioUnauthenticatedError({ ...d, reason }));
  }
  if ([400, 404, 405, 413, 415, 422].includes(status)) return fail(new StudioBadRequestError(d));
  return fail(new StudioUnavailableError(d));
}

function fail(e: StudioError): never {
  throw e;
}

function retryable(e: StudioError): boolean {
  return e instanceof StudioUnavailableError && [0, 429, 502, 503, 504].includes(e.status);
}

function backoff(p: Required<RetryPolicy>, n: number): number {
  const d = Math.min(p.baseDelayMs * 2 ** (n - 1), p.maxDelayMs);
  return d / 2 + Math.random() * (d / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function plausibleToken(t: string): boolean {
  return typeof t === "string" && t.length > 0 && t.length <= 1024 && /^[\x21-\x7e]+$/.test(t);
}

function malformed(op: string): StudioUnauthenticatedError {
  return new StudioUnauthenticatedError({ op, reason: "malformed", message: "the session token is malformed" });
}

function invalid(op: string, status: number, message: string, attempts = 1): StudioUnavailableError {
  return new StudioUnavailableError({ op, status, message, attempts });
}

/** describe names a network failure without any URL or header in it. */
function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (e instanceof Error) return e.name === "TimeoutError" || e.name === "AbortError" ? e.name : e.message;
  return String(e);
}

function toSession(op: string, a: Answer): Session {
  const s = a.json?.session;
  const str = (v: unknown) => typeof v === "string" && v !== "";
  if (!s || typeof s !== "object" || !str(s.id) || !str(s.user_id) || !str(s.expires_at)) {
    throw invalid(op, a.status, "response holds no session");
  }
  const date = (v: unknown, name: string): Date => {
    const d = new Date(typeof v === "string" ? v : NaN);
    if (Number.isNaN(d.getTime())) throw invalid(op, a.status, `session field ${name} is not a time`);
    return d;
  };
  const idle = s.idle_timeout ?? 0;
  if (!Number.isInteger(idle) || idle < 0) throw invalid(op, a.status, "session field idle_timeout out of range");
  const md = s.metadata ?? {};
  if (typeof md !== "object" || Array.isArray(md) || Object.values(md).some((v) => typeof v !== "string")) {
    throw invalid(op, a.status, "session field metadata is not a map of strings");
  }
  return {
    id: s.id,
    userId: s.user_id,
    createdAt: date(s.created_at, "created_at"),
    lastSeenAt: date(s.last_seen_at, "last_seen_at"),
    expiresAt: date(s.expires_at, "expires_at"),
    idleTimeoutSeconds: idle,
    metadata: { ...md },
  };
}
