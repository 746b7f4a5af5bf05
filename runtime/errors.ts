/**
 * Every error troupe raises is a {@link TroupeError} with a stable `code`, so callers can
 * branch on `err.code` instead of parsing messages.
 */
export class TroupeError extends Error {
  /** Stable, machine-readable error code, e.g. `DECODE_TRUNCATED`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A stack specification is invalid (unknown layer, a requirement not met below a layer). */
export class StackConfigError extends TroupeError {}

/**
 * A request's arguments do not match the service's declared types. Raised on the server
 * before user code runs, and delivered to the caller as the call's error.
 *
 * @example
 * ```ts
 * try { await bank.deposit('alice', 'ten' as never); }
 * catch (e) { if (e instanceof BadRequestError) console.log(e.param); } // 'amount'
 * ```
 */
export class BadRequestError extends TroupeError {
  constructor(
    message: string,
    /** Method the request named. */
    readonly method: string,
    /** Parameter whose value failed validation, when one did. */
    readonly param?: string,
    /** Path inside the parameter value, e.g. `items[2].qty`. */
    readonly path?: string,
  ) {
    super('BAD_REQUEST', message);
  }
}
