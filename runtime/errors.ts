/**
 * Names an untrusted value (decoded, or a JavaScript caller's) in an error message. `String(v)`
 * or a template literal would call the value's own `toString`, which a decoded map can replace
 * (`{"toString": 1}` makes it throw a `TypeError`), and `JSON.stringify` throws on a bigint: only
 * primitives are printed (a bigint as `1n`, a symbol as `Symbol(x)`), anything else by its type.
 */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'symbol' || v == null) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'a map' : typeof v;
}

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

/**
 * Why `joinGroup` / `joinReplica` could not form or find its group. Each subclass has its own
 * `code` and names what the joiner saw; `seeds` are the addresses it asked.
 *
 * @example
 * ```ts
 * try { await joinReplica(new Bank(), 'bank', { seeds, key }); }
 * catch (e) {
 *   if (e instanceof KeyMismatchError) console.error(`fix the key: ${e.message}`);
 *   else if (e instanceof JoinError) console.error(`${e.code}: ${e.message}`);
 * }
 * ```
 */
export class JoinError extends TroupeError {
  constructor(
    code: string,
    message: string,
    /** The seed addresses the joiner asked. */
    readonly seeds: readonly string[],
  ) {
    super(code, message);
  }
}

/** `JOIN_NO_ANSWER`: nothing of any group answered at the seeds within `joinTimeoutMs`. */
export class NoAnswerError extends JoinError {
  constructor(message: string, seeds: readonly string[]) {
    super('JOIN_NO_ANSWER', message, seeds);
  }
}

/**
 * `JOIN_TIMEOUT`: members or joiners of this group answered, but no view came within
 * `joinTimeoutMs`: typically fewer seeds up than founding needs (a majority of the seeds).
 */
export class JoinTimeoutError extends JoinError {
  constructor(
    message: string,
    seeds: readonly string[],
    /** The addresses packets of this group came from while joining. */
    readonly answered: readonly string[],
  ) {
    super('JOIN_TIMEOUT', message, seeds);
  }
}

/**
 * `JOIN_ABORTED`: the join's `signal` fired before it completed (`troupe serve` got SIGTERM or
 * SIGINT while joining). A joiner already in a view left it first (`left`), so the others
 * installed a view without it instead of removing it as failed; `member` is the id it joined as.
 */
export class JoinAbortedError extends JoinError {
  constructor(
    message: string,
    seeds: readonly string[],
    readonly member: string,
    readonly left: boolean,
  ) {
    super('JOIN_ABORTED', message, seeds);
  }
}

/**
 * `STATE_BUSY`: thrown by a `StateProvider`'s `snapshot()` that has no state to give at this
 * point of the order yet but will have (the RPC replica while a method not declared `async` runs
 * its first time). The joiner is told to try again: it gives up this join without an error code
 * and joins again, where any other failure of `snapshot()` fails the join (`STATE_PROVIDER_FAILED`).
 *
 * @example
 * ```ts
 * snapshot(): Uint8Array {
 *   if (this.midUpdate) throw new StateBusyError('an update is half applied');
 *   return encode(this.state);
 * }
 * ```
 */
export class StateBusyError extends TroupeError {
  constructor(message: string) {
    super('STATE_BUSY', message);
  }
}

/** `JOIN_FOREIGN_GROUP`: a member at `address` answered, but for another group. */
export class ForeignGroupError extends JoinError {
  constructor(
    message: string,
    seeds: readonly string[],
    /** Who answered. */
    readonly address: string,
    /** Its group's id (`groupIdOf(name)`), and its name when it gave it (groups without a key). */
    readonly groupId: number,
    readonly groupName: string | undefined,
  ) {
    super('JOIN_FOREIGN_GROUP', message, seeds);
  }
}

/**
 * `JOIN_KEY_MISMATCH`: a member of this group at `address` answered, but could not verify this
 * joiner's packets: its key differs (`theirs` and `ours` are key ids, `authKeyId`, or `''` for
 * no key: one side has a key and the other none).
 */
export class KeyMismatchError extends JoinError {
  constructor(
    message: string,
    seeds: readonly string[],
    readonly address: string,
    readonly theirs: string,
    readonly ours: string,
  ) {
    super('JOIN_KEY_MISMATCH', message, seeds);
  }
}

/**
 * `MEMBERSHIP_FILE_BAD`: the membership file a member was told to keep (`JoinOptions.membershipFile`,
 * `troupe serve --data-dir`) exists but cannot be read as one, or belongs to another group. The
 * member does not start: starting without the memory it holds could let this process help found a
 * second group beside a running one (docs/protocol.md, "Membership memory"). Move the file away
 * only if this process was never in the group it names.
 */
export class MembershipFileError extends TroupeError {
  constructor(
    message: string,
    /** The file. */
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super('MEMBERSHIP_FILE_BAD', message, options);
  }
}
