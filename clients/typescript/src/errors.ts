/** Why Studio refused a session token: the `reason` of its 401 answer. */
export type Reason = "malformed" | "unknown" | "revoked" | "expired" | "idle";

/** The fields Studio (or the client) gave about a failure. */
export interface StudioErrorDetails {
  /** The operation: "validate", "create", "revoke", "revoke user". */
  op: string;
  /** The HTTP status, or 0 when Studio gave none. */
  status?: number;
  /** Studio's error code, when it sent one. */
  code?: string;
  /** Studio's message (for people), or the client's. Never holds a token. */
  message?: string;
  /** How many requests were sent (0: refused without sending). */
  attempts?: number;
  /** The underlying cause (a network error), when there is one. */
  cause?: unknown;
}

/**
 * The base class of every error the client throws. Branch with
 * `instanceof` on the subclasses, or on `kind`.
 */
export class StudioError extends Error {
  readonly kind: "unauthenticated" | "forbidden" | "unavailable" | "bad_request" = "unavailable";
  readonly op: string;
  readonly status: number;
  readonly code: string;
  readonly attempts: number;

  constructor(d: StudioErrorDetails, summary: string) {
    const parts = [`studio ${d.op}: ${summary}`];
    if (d.status) parts.push(`status ${d.status}${d.code ? " " + d.code : ""}`);
    else if (d.code) parts.push(d.code);
    if (d.message) parts.push(d.message);
    super(parts.join(": "), d.cause === undefined ? undefined : { cause: d.cause });
    this.name = new.target.name;
    this.op = d.op;
    this.status = d.status ?? 0;
    this.code = d.code ?? "";
    this.attempts = d.attempts ?? 0;
  }
}

/** Studio refused the session token; `reason` says why (undefined when Studio gave none). */
export class StudioUnauthenticatedError extends StudioError {
  override readonly kind = "unauthenticated" as const;
  readonly reason: Reason | string | undefined;
  constructor(d: StudioErrorDetails & { reason?: string }) {
    super(d, `unauthenticated${d.reason ? ` (${d.reason})` : ""}`);
    this.reason = d.reason || undefined;
  }
}

/** An admin operation without a valid admin token, or admin routes disabled. */
export class StudioForbiddenError extends StudioError {
  override readonly kind = "forbidden" as const;
  constructor(d: StudioErrorDetails) {
    super(d, "forbidden");
  }
}

/** Studio refused the request itself (400, 404, 413, 415); retrying will not help. */
export class StudioBadRequestError extends StudioError {
  override readonly kind = "bad_request" as const;
  constructor(d: StudioErrorDetails) {
    super(d, "bad request");
  }
}

/**
 * Studio gave no usable answer: connection refused or reset, timeout, 5xx,
 * or a body that is not Studio's JSON. A session is never taken as valid;
 * the outcome of a create is unknown.
 */
export class StudioUnavailableError extends StudioError {
  override readonly kind = "unavailable" as const;
  /** True when the last attempt ran out of time. */
  readonly timeout: boolean;
  constructor(d: StudioErrorDetails, timeout = false) {
    super(d, timeout ? "unavailable (timeout)" : "unavailable");
    this.timeout = timeout;
  }
}

/** A StudioUnavailableError whose last attempt ran out of time. */
export class StudioTimeoutError extends StudioUnavailableError {
  constructor(d: StudioErrorDetails) {
    super(d, true);
  }
}
