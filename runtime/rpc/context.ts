import { AsyncLocalStorage } from 'node:async_hooks';
import { fnv1a } from '../stack/hash.js';
import type { MemberId } from '../stack/member.js';
import { type RandomSource, seededRandom } from '../stack/random.js';
import type { MethodKind } from './decorators.js';
import { NoCallContextError } from './errors.js';

/**
 * The call context: what a replicated method may know about the call it is serving, with
 * values that are the same at every replica (so replicas stay identical).
 *
 * @example
 * ```ts
 * @Ordered()
 * open(owner: string): string {
 *   const call = currentCall();
 *   const id = `${owner}-${Math.floor(call.random() * 1e9)}`; // same id at every replica
 *   this.opened.set(id, call.now);                             // same timestamp too
 *   return id;
 * }
 * ```
 */
export interface CallContext {
  /** `clientId:counter`; the key of the outcome table. */
  readonly requestId: string;
  readonly service: string;
  readonly method: string;
  readonly kind: MethodKind;
  /** The view the request was ordered in (for queries: the answering member's view). */
  readonly view: { readonly id: number; readonly members: readonly MemberId[] };
  /** The member running the method. */
  readonly self: MemberId;
  /**
   * Milliseconds since the epoch, fixed by the order: the contact's clock when it ordered the
   * request, raised to never go backwards. The same at every replica. (For unordered queries:
   * the answering member's clock.)
   */
  readonly now: number;
  /** Uniform numbers in [0, 1), seeded by the request id: the same sequence at every replica. */
  random(): number;
}

const storage = new AsyncLocalStorage<CallContext>();

/**
 * The context of the method call running now (across its `await`s): the request id, the ordering
 * view, and a clock and random numbers that are the same at every replica. Throws
 * `NoCallContextError` outside a call.
 *
 * @example
 * ```ts
 * @Ordered()
 * stamp(note: string): number {
 *   const { now, requestId } = currentCall(); // not Date.now(): replicas would differ
 *   this.notes.push({ note, at: now, by: requestId });
 *   return now;
 * }
 * ```
 */
export function currentCall(): CallContext {
  const ctx = storage.getStore();
  if (!ctx) throw new NoCallContextError();
  return ctx;
}

/** @internal Runs `fn` with `ctx` as the current call. */
export function runInCall<R>(ctx: CallContext, fn: () => R): R {
  return storage.run(ctx, fn);
}

/** A deterministic generator seeded by a request id (FNV-1a of the id). */
export function randomFor(requestId: string): RandomSource {
  return seededRandom(fnv1a(requestId));
}

/**
 * @internal The context a replica gives one call. Its generator is made on the first `random()`
 * (most methods never draw), and `view` is shared by the calls of one view, frozen: a context
 * and a generator per call were 5 % of the bytes a loaded in-process group allocated.
 */
export class ReplicaCallContext implements CallContext {
  private generator: RandomSource | undefined;

  constructor(
    readonly requestId: string,
    readonly service: string,
    readonly method: string,
    readonly kind: MethodKind,
    readonly view: CallContext['view'],
    readonly self: MemberId,
    readonly now: number,
  ) {}

  /** An own property, not a prototype method or getter: `const { random } = currentCall()` and
   * a spread copy of the context keep working. */
  readonly random = (): number => {
    this.generator ??= randomFor(this.requestId);
    return this.generator();
  };
}
