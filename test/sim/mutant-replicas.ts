/**
 * Replicas that lie, for the tests that prove a checker can fail: each is a `makeReplica` for
 * `runRpcScenario` that changes what a real {@link Replica} tells its clients.
 */
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { Replica, type ReplicaOptions } from '../../runtime/rpc/replica.js';
import type { Register } from './rpc-service.js';

type Packet = { kind: string; result?: { ok: boolean; value?: Uint8Array } };
type Internals = { link: { send(to: string, p: Packet): void }; onPartitioned(): void };

/**
 * A replica whose numeric replies are one off on one side of its first cut: `before` it (the
 * first lineage's replies) or `after` it (once it serves a re-founded group).
 */
export function offByOneAroundCut(side: 'before' | 'after') {
  return (instance: Register, options: ReplicaOptions): Replica<Register> => {
    const r = new Replica(instance, options);
    const inner = r as unknown as Internals;
    const send = inner.link.send.bind(inner.link);
    const cut = inner.onPartitioned.bind(r);
    let after = false;
    inner.onPartitioned = () => {
      after = true;
      cut();
    };
    inner.link.send = (to, p) => {
      const lies = after === (side === 'after');
      const v =
        lies && p.kind === 'reply' && p.result?.ok && p.result.value
          ? decodeValue(p.result.value)
          : undefined;
      send(to, typeof v === 'number' ? { ...p, result: { ok: true, value: encodeValue(v + 1) } } : p);
    };
    return r;
  };
}

/**
 * A replica that answers every `not-found` outcome query with `committed` and a value it made up
 * (777): a claim about a request no agreed log holds. After a blackout the new group's members
 * make it (test/sim/blackout.ts: not excused, unlike the lost history's answers).
 */
export function inventsOutcomes() {
  return (instance: Register, options: ReplicaOptions): Replica<Register> => {
    const r = new Replica(instance, options);
    const link = (r as unknown as { link: Record<string, (...a: unknown[]) => void> }).link;
    for (const name of ['send', 'sendWithin'] as const) {
      const inner = link[name]!.bind(link);
      link[name] = (to: unknown, p: unknown, ...rest: unknown[]) => {
        const q = p as { kind: string; status?: string; viewId?: number };
        const lie =
          q.kind === 'outcome' && q.status === 'not-found'
            ? {
                ...q,
                status: 'committed',
                result: { ok: true, value: encodeValue(777) },
                orderedIn: q.viewId,
              }
            : p;
        inner(to, lie, ...rest);
      };
    }
    return r;
  };
}

/**
 * A replica that, once its state is replaced (a restored snapshot, or its own state frozen at a
 * cut), never applies the backlog's requests after the first: e.g. a request queued behind an
 * async one still running, as in a re-founding. The founders do it alike and agree.
 */
export function skipsQueuedBacklog(instance: Register, options: ReplicaOptions): Replica<Register> {
  const r = new Replica(instance, options);
  type Item = { t: string };
  const inner = r as unknown as {
    queueBacklog(b: Item[], ...rest: unknown[]): void;
    applyMsg(i: Item): unknown;
  };
  const queueBacklog = inner.queueBacklog.bind(r);
  const applyMsg = inner.applyMsg.bind(r);
  const skipped = new WeakSet<Item>();
  inner.queueBacklog = (backlog, ...rest) => {
    for (const i of backlog.filter((b) => b.t === 'msg').slice(1)) skipped.add(i);
    queueBacklog(backlog, ...rest);
  };
  inner.applyMsg = (item) => (skipped.has(item) ? undefined : applyMsg(item));
  return r;
}

/**
 * A replica whose contact reads no call's history (`CallPacket.history`): it orders a copy its
 * client first sent into another history of the group, as members did before RPC seed 402000095's
 * fix (test/sim/rpc-scenario.ts `historyTags` sees it).
 */
export function ignoresCallHistory() {
  return (instance: Register, options: ReplicaOptions): Replica<Register> => {
    const r = new Replica(instance, options);
    type Call = { history?: number };
    const contact = (r as unknown as { contact: { onCall(p: Call, from: string): void } }).contact;
    const onCall = contact.onCall.bind(contact);
    contact.onCall = (p, from) => {
      const { history: _, ...rest } = p;
      onCall(rest, from);
    };
    return r;
  };
}
