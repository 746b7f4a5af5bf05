/**
 * Errors of the RPC runtime. Every one is a {@link TroupeError} with a stable `code`.
 *
 * Errors thrown by a method travel to the caller as a {@link WireError} and come back as a
 * {@link RemoteError} (or, for the runtime's own codes, as the matching typed class).
 */
import { UnknownMethodError } from '../../idl/errors.js';
import { BadRequestError, TroupeError } from '../errors.js';

/** An error as it travels in a reply: plain data only. */
export interface WireError {
  name: string;
  message: string;
  code: string;
  /** The error's own public fields (e.g. `account`, `balance`), when they encode. */
  details?: Record<string, unknown>;
}

/**
 * A method threw on a member. `name` and `code` are the remote error's; the remote error's
 * own fields are in `details` and, when they do not clash, on the error itself.
 *
 * @example
 * ```ts
 * try { await bank.withdraw('alice', 1e9); }
 * catch (e) { if (e instanceof RemoteError && e.code === 'INSUFFICIENT_FUNDS') console.log(e.details.balance); }
 * ```
 */
export class RemoteError extends TroupeError {
  readonly details: Record<string, unknown>;
  constructor(
    wire: WireError,
    /** The member that ran the method, when known. */
    readonly member?: string,
  ) {
    super(wire.code, wire.message);
    this.name = wire.name;
    this.details = wire.details ?? {};
    for (const [k, v] of Object.entries(this.details)) {
      if (!(k in this)) Object.defineProperty(this, k, { value: v, enumerable: true });
    }
  }
}

/** Code of errors thrown by application code that are not {@link TroupeError}s. */
export const APP_ERROR = 'APP_ERROR';

/**
 * The contact member failed (silent past the timeout, or dropped from the view) while the call
 * was pending. The call may or may not have run, and the client cannot tell at that moment
 * (most calls the contact had ordered are not yet acknowledged when it fails): follow the
 * recovery recipe of docs/rpc.md ("Recovering a failed call"), or connect with `autoReissue`.
 */
export class FailoverError extends TroupeError {
  constructor(
    readonly requestId: string,
    /** The contact member that failed (member id, or its address if the id was not known). */
    readonly member: string,
  ) {
    super(
      'FAILOVER',
      `contact ${member} failed while request ${requestId} was pending; ` +
        `use outcome('${requestId}') or reissue('${requestId}')`,
    );
  }
}

/** A call's deadline passed. The request may still run: ask `client.outcome(requestId)`. */
export class TimeoutError extends TroupeError {
  constructor(
    readonly requestId: string,
    readonly timeoutMs: number,
    detail = '',
  ) {
    super('TIMEOUT', `request ${requestId} timed out after ${timeoutMs} ms${detail ? ` (${detail})` : ''}`);
  }
}

/** A handler call's lock holder left or failed before completing it: it may or may not have run. */
export class InterruptedError extends TroupeError {
  constructor(
    readonly requestId: string,
    message = `request ${requestId} was interrupted: its lock holder left the group before completing it`,
  ) {
    super('INTERRUPTED', message);
  }
}

/** A reissued request is older than the outcome table keeps; it is refused, never run again. */
export class OutcomeExpiredError extends TroupeError {
  constructor(
    readonly requestId: string,
    message = `request ${requestId} is older than the retained outcomes; it was not run again`,
  ) {
    super('OUTCOME_EXPIRED', message);
  }
}

/**
 * What became of a request cannot be known any more: the client first sent it before the group's
 * history was lost (every member that held it crashed, or a majority was lost and the group was
 * founded again from members that had not applied it), and the group that answers now has no
 * record of it. It may have run in the lost history, and an effect it had outside the group
 * (a mail, a payment) stays done; running it again may do that twice. `client.reissue()` refuses
 * to send it again (this error) unless told `{ rerun: true }`: an application decision
 * (docs/rpc.md, "Recovering a failed call").
 *
 * @example
 * ```ts
 * try { await client.reissue(id); }
 * catch (e) {
 *   if (e instanceof OutcomeUnknownError && (await ledger.hasEffect(id)) === false)
 *     await client.reissue(id, { rerun: true }); // the application knows it did not run
 * }
 * ```
 */
export class OutcomeUnknownError extends TroupeError {
  constructor(
    readonly requestId: string,
    message = `request ${requestId} was sent before the group's history was lost, and the group now has no record of it: it may have run; reissue it with { rerun: true } only if running it again is acceptable`,
  ) {
    super('OUTCOME_UNKNOWN', message);
  }
}

/** No member answered: the seeds (or every member of the last view) are unreachable. */
export class NoContactError extends TroupeError {
  constructor(message: string) {
    super('NO_CONTACT', message);
  }
}

/** A `majority` call cannot reach a majority: too many members of the view failed. */
export class NoMajorityError extends TroupeError {
  constructor(
    readonly requestId: string,
    message: string,
  ) {
    super('NO_MAJORITY', message);
  }
}

/** The client was closed while the call was pending, or a call was made after `close()`. */
export class ClientClosedError extends TroupeError {
  constructor(readonly requestId?: string) {
    super('CLIENT_CLOSED', requestId ? `client closed while ${requestId} was pending` : 'client is closed');
  }
}

/** The request named a service the replica does not serve. */
export class UnknownServiceError extends TroupeError {
  constructor(
    readonly service: string,
    served: string,
  ) {
    super('UNKNOWN_SERVICE', `this group serves '${served}', not '${service}'`);
  }
}

/** Invalid configuration of a replica or client (not a service class, bad option). */
export class RpcConfigError extends TroupeError {
  constructor(message: string) {
    super('RPC_CONFIG', message);
  }
}

/**
 * `Replica.restore` refused a state snapshot (`BAD_SNAPSHOT`): not a troupe snapshot of this
 * version, a malformed part, or the service's own `restore` threw (its error is the `cause`).
 * Nothing of it was applied.
 */
export class SnapshotError extends TroupeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BAD_SNAPSHOT', message, options);
  }
}

/** `currentCall()` was used outside a method invocation. */
export class NoCallContextError extends TroupeError {
  constructor() {
    super('NO_CALL_CONTEXT', 'currentCall() is only available while a replicated method runs');
  }
}

/** A value (argument or result) cannot be encoded with msgpack. */
export class EncodeError extends TroupeError {
  constructor(message: string) {
    super('ENCODE', message);
  }
}

const RESERVED = new Set(['name', 'message', 'code', 'stack', 'cause']);

/** Turns anything thrown into its wire form; `encodable` decides which details survive. */
export function toWireError(e: unknown, encodable: (v: unknown) => boolean): WireError {
  if (e instanceof Error) {
    const code = e instanceof TroupeError ? e.code : APP_ERROR;
    const details: Record<string, unknown> = {};
    try {
      for (const [k, v] of Object.entries(e)) {
        if (!RESERVED.has(k) && encodable(v)) details[k] = v;
      }
    } catch {
      // A getter that throws: the details are dropped, the error itself still travels.
    }
    const wire: WireError = { name: text(e.name, 'Error'), message: text(e.message, ''), code };
    if (Object.keys(details).length > 0) wire.details = details;
    return wire;
  }
  // Not `String(e)`: a thrown object's own `toString` may be missing or throw.
  const shown = typeof e === 'object' && e !== null ? 'an object' : text(e, typeof e);
  return { name: 'Error', message: `non-error value thrown: ${shown}`, code: APP_ERROR };
}

/** `v` if it is a string, a number or a boolean as text, else `fallback`. */
function text(v: unknown, fallback: string): string {
  if (typeof v === 'string') return v;
  return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : fallback;
}

/** Rebuilds the caller-side error: the runtime's own codes become their typed classes. */
export function fromWireError(w: WireError, requestId: string, member?: string): TroupeError {
  const d = w.details ?? {};
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  switch (w.code) {
    case 'BAD_REQUEST':
      return new BadRequestError(w.message, str(d.method) ?? '', str(d.param), str(d.path));
    case 'UNKNOWN_METHOD':
      return new UnknownMethodError(str(d.service) ?? '', str(d.method) ?? '');
    case 'INTERRUPTED':
      return new InterruptedError(requestId, w.message);
    case 'OUTCOME_EXPIRED':
      return new OutcomeExpiredError(requestId, w.message);
    case 'UNKNOWN_SERVICE': {
      const err = new UnknownServiceError(str(d.service) ?? '', '');
      err.message = w.message;
      return err;
    }
    default:
      return new RemoteError(w, member);
  }
}

/** `reissue(requestId)` for a request this client does not remember (never sent, or forgotten). */
export class UnknownRequestError extends TroupeError {
  constructor(readonly requestId: string) {
    super(
      'UNKNOWN_REQUEST',
      `request ${requestId} is not remembered by this client; pass its service, method and args to invoke() with { requestId }`,
    );
  }
}

/** A call with this request id is already pending on this client. */
export class RequestPendingError extends TroupeError {
  constructor(readonly requestId: string) {
    super('REQUEST_PENDING', `request ${requestId} is already pending on this client`);
  }
}

/**
 * A call was made with an invalid argument or option (from plain JavaScript, or a stub called
 * with more arguments than the method has): refused before anything is sent.
 */
export class CallOptionError extends TroupeError {
  constructor(
    /** The option (`reply`, `timeoutMs`, …), or `args`, `service`, `method`, `options`. */
    readonly option: string,
    message: string,
  ) {
    super('BAD_CALL_OPTION', message);
  }
}

/** A request id that is not `clientId:counter`. */
export class BadRequestIdError extends TroupeError {
  constructor(readonly requestId: string) {
    super(
      'BAD_REQUEST_ID',
      `request id '${requestId}' is not clientId:counter (clientId: 1-64 of [A-Za-z0-9_-])`,
    );
  }
}
