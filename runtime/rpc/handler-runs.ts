/**
 * Handler calls at this member (`@Handler` methods, step 4 of a call in replica.ts): every
 * replica records a handler call as pending, and only the member holding its lock runs it and
 * casts a `done` record that every replica applies as the call's outcome. A call runs only once
 * no call of its lock ordered before it is still pending at another member (the lock may have
 * moved here while its earlier holder still runs calls of it), and the runs of one lock go one
 * after another.
 */
import { TroupeError } from '../errors.js';
import type { GroupHandle } from '../group/types.js';
import type { CallContext } from './context.js';
import { type Dispatcher, failure, type MethodEntry } from './dispatch.js';
import { runByOthers } from './locks.js';
import { encodeGroupMsg } from './messages.js';
import type { Result } from './result.js';
import type { PendingHandler } from './snapshot.js';

/** What the handler runs read of their replica, each when they need it (a restore, a cut change them). */
export interface HandlerHost {
  group(): GroupHandle | undefined;
  /** The replica's history count: a run begun in an earlier history never completes. */
  generation(): number;
  /** The replicated pending handler calls, in the order they were applied. */
  pending(): ReadonlyMap<string, PendingHandler>;
  readonly dispatcher: Dispatcher;
  readonly counters: { internalErrors: number };
  /** Gates opened: this member's own `acquire()` calls may hold their lock now. */
  gatesOpened(): void;
}

export class HandlerRuns {
  /** Per lock, the end of the chain of this member's runs of it. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Handler calls this member holds, waiting for an earlier holder's calls of their lock to end. */
  private readonly gates = new Set<{ p: PendingHandler; open: () => void }>();

  constructor(private readonly host: HandlerHost) {}

  /** Runs pending call `p` here (this member holds its lock), after the earlier runs of its lock. */
  run(p: PendingHandler, entry: MethodEntry, args: unknown[], ctx: CallContext): void {
    const previous = this.chains.get(p.lock) ?? Promise.resolve();
    const generation = this.host.generation();
    const next = previous.then(async () => {
      // The lock may have moved here while its earlier holder still runs calls of it.
      await this.afterEarlierRunners(p);
      const group = this.host.group();
      if (
        !group ||
        generation !== this.host.generation() ||
        this.host.pending().get(p.id)?.runner !== group.self
      )
        return;
      const result = await this.host.dispatcher.run(entry, args, ctx);
      if (generation !== this.host.generation()) return; // its holder's history ended: it is interrupted
      // The completion carries the method's QoS: the holder answers the client when it applies
      // it, so it must be as durable as the method asks (a `none` done could be lost with the holder).
      const done = (r: Result) => encodeGroupMsg({ kind: 'done', id: p.id, runner: group.self, result: r });
      try {
        group.cast(done(result), entry.qos);
      } catch (e) {
        // A result the group cannot carry (over `maxMessage`) still ends the call, as a failure
        // every replica records: uncast, it stayed pending for ever (session 19's review).
        if (!(e instanceof TroupeError) || e.code !== 'MESSAGE_TOO_LARGE') throw e;
        group.cast(done(failure(e)), entry.qos);
      }
    });
    const settled = next.catch(() => {
      this.host.counters.internalErrors++;
    });
    this.chains.set(p.lock, settled);
    settled.finally(() => {
      if (this.chains.get(p.lock) === settled) this.chains.delete(p.lock);
    });
  }

  /** The history ended (a cut, a failure; the generation was bumped first): runs still chained
   * or gated see the generation end and never start. */
  drop(): void {
    this.chains.clear();
    this.open(true);
  }

  /** After pending calls ended (completed, interrupted, or replaced by a restore or a cut). */
  open(all = false): void {
    const pending = this.host.pending();
    for (const gate of this.gates) {
      const { p } = gate;
      const waits = pending.get(p.id) === p && runByOthers(pending.values(), p.lock, p.runner, p.id);
      if (!all && waits) continue;
      this.gates.delete(gate);
      gate.open();
    }
    this.host.gatesOpened();
  }

  /** Resolves once no call of `p`'s lock ordered before it is pending at another member. */
  private afterEarlierRunners(p: PendingHandler): Promise<void> | undefined {
    if (!runByOthers(this.host.pending().values(), p.lock, p.runner, p.id)) return undefined;
    return new Promise((open) => this.gates.add({ p, open }));
  }
}
