import { describe, expect, it } from 'vitest';
import {
  coordinatorFirst,
  GmsKind,
  type GmsNode,
  foundGroup as group,
  installOf,
  viewIdOf as viewId,
} from './gms-net.js';

/**
 * Found by review (FINDINGS item 21). 5 members a b p q r (ranks 0..4). a and p are cut
 * off from b and r; q hears everyone. a runs attempt A = {a, p, q} (b, r failed); q answers its
 * Sync with FlushOk, but that FlushOk and everything a sends q afterwards is held (the a<->q link
 * breaks right then). a's flush times out and a abandons A (the Abandon reaches p, not q). b runs
 * B = {b, q, r} leaving a out; q switches, reports its promise of A, and b adopts A's Install
 * [a, p, q]: q installs it alone, b and r stop. No fault is scripted in the real messages: only
 * link cuts, no injection, so the scenario runs unchanged on the parent commit 4282e32, where b
 * installs its own [b, q, r] and b, q, r go on (a, p stop: two members of their view are ahead).
 */
function adoptedViewWithoutItsMembers(healAfterMs: number) {
  const net = group(5);
  const [a, b, p, q, r] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
  net.partition([a, p], [b, r]);
  expect(net.runUntil(() => net.sentOf(a, GmsKind.Sync).length > 0, net.now + 3_000)).toBe(true);
  net.cutLink(q, a, false);
  expect(net.runUntil(() => net.sentOf(q, GmsKind.FlushOk).length > 0, net.now + 100)).toBe(true);
  net.cutLink(a, q, false);
  net.run(net.now + healAfterMs);
  return { net, a, b, p, q, r };
}

describe('gms: an adopted Install (one view per view id)', () => {
  it('members of an adopted view that had left its attempt still install it when its Install comes', () => {
    // Healed after 500 ms (less than partitionMs 900): q holds view 2 = [a, p, q] (a's epoch).
    // Before the late install, a and p stayed in view 1, blocked, a restarting its flush for
    // ever: they dropped b's copy of the Install (their flush is a later attempt of a, A was
    // abandoned), q ignored their Prepares for view 2 but counted them as liveness (flush
    // control), and only q showed them a later view (one witness: no `behind`). Now they take
    // b's copy once the links heal: they answered FlushOk to that very Install and delivered
    // exactly its cut. (q also answers their Prepares for view 2 with its Install, in case that
    // copy is lost.)
    const { net, a, b, p, q, r } = adoptedViewWithoutItsMembers(500);
    expect(net.stats(b).valuesAdopted).toBe(1);
    expect(net.view(q)!.members).toEqual([a.id, p.id, q.id]);
    expect(net.stopped(b) && net.stopped(r)).toBe(true);
    net.heal();
    net.run(net.now + 60_000); // a minute with every link healed and no fault
    const live = [a, p, q].filter((n) => !net.stopped(n));
    // Every live member is out of its flush and shares one view with the others still live.
    for (const n of live) expect({ id: n.id, blocked: net.blocked(n) }).toEqual({ id: n.id, blocked: false });
    expect(new Set(live.map((n) => `${viewId(net, n)}.${net.view(n)!.epoch}`)).size).toBeLessThanOrEqual(1);
  });

  /** q completed c's attempt 5 of view 2 = [c, p, q] (injected: c's own traffic to q waits). */
  const completedAttempt = () => {
    const net = group(3);
    const [c, p, q] = coordinatorFirst(net);
    const all = [c.id, p.id, q.id];
    net.cutLink(c, q);
    net.inject(q, c.id, [GmsKind.Prepare, 2, 5, all, all.map(() => 'x:1')]);
    net.run(net.now + 5);
    net.inject(q, c.id, [GmsKind.Sync, 2, 5, all.map((m) => [m, 0, m]), installOf(5, 0, all)]);
    net.run(net.now + 5);
    expect(net.sentOf(q, GmsKind.FlushOk)).toHaveLength(1);
    return { net, c, p, q };
  };

  it('an Install from a member that is not the coordinator, with the agreed epoch, is not taken', () => {
    // The relaxed sender rule compared only the epoch: any member of the view (a key holder, or
    // anyone forging a member's id without a key) could send an Install with the epoch of the
    // attempt q completed but other members. q stopped as excluded on p's word alone (before
    // 199e201: refused, as from anyone but the coordinator of q's flush).
    const { net, c, p, q } = completedAttempt();
    net.inject(q, p.id, installOf(5, 0, [c.id, p.id], [q.id])); // from p, not c
    net.run(net.now + 5);
    expect(net.stopped(q)).toBe(false);
    expect(net.stats(q).refused).toBe(1);
  });

  it('an Install with the agreed epoch but other members is not installed as if agreed', () => {
    // Same, keeping q in: q would install p's member list under c's epoch, a view 2 that c's
    // real Install (same id, same epoch) contradicts; the lineage rule cannot tell them apart.
    const { net, c, p, q } = completedAttempt();
    net.inject(q, p.id, installOf(5, 0, [p.id, q.id], [c.id])); // from p: c out
    net.run(net.now + 5);
    expect(viewId(net, q)).toBe(1);
    expect(net.stopped(q)).toBe(false);
  });
});
