/**
 * The contract between generated stubs and the RPC client. Generated code depends only on
 * this file, so stubs and the client runtime can evolve independently.
 */

/** How many replies a call waits for. `first`: Electra's transparent mode. `all`: every member
 * of the view the request was ordered in. `majority`: a majority of that view. `none`: one-way. */
export type ReplyMode = 'first' | 'all' | 'majority' | 'none';

/** Per-call options; every field overrides the method's declared default. */
export interface CallOptions {
  reply?: ReplyMode;
  /** Deadline for the whole call, in milliseconds. */
  timeoutMs?: number;
  /** Reuse a request id (reissue); normally assigned by the client. */
  requestId?: string;
}

/** One member's answer in `all`/`majority` mode. */
export type ReplyEntry<T> =
  | { member: string; status: 'ok'; value: T }
  | { member: string; status: 'error'; error: { name: string; message: string; code: string } }
  | { member: string; status: 'failed' | 'timeout' };

/** Every member's reply to one request (non-transparent mode). */
export interface Replies<T> {
  requestId: string;
  /** The view the request was ordered in; `entries` has one row per member of it. */
  viewId: number;
  entries: ReplyEntry<T>[];
  /**
   * Set when members answered an ordered request differently (values or errors): their states
   * diverged or the method is nondeterministic (docs/observability.md, "Divergence").
   */
  divergent?: true;
}

/** What a generated stub needs from a connected client. */
export interface Invoker {
  invoke(service: string, method: string, args: unknown[], opts?: CallOptions): Promise<unknown>;
}
