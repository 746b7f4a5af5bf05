import { describe, expect, it } from 'vitest';
import { coordinatorFirst, foundGroup, GmsKind, type GmsNode, viewIdOf } from './gms-net.js';

/**
 * A removal a layer above demanded (seq's lag bound, fc's block bound) that no flush can carry
 * out. RPC seed 5060244 (`--members 3..5 --faults loss,dup,reorder,delay,crash,pause,partition,
 * splits,links --delivery fanout`): in a view of three whose third member had crashed, the
 * coordinator (the sequencer) demanded the removal of the one live member it had not heard
 * during a partition, then took that member's Prepare, released by the heal. Taking it trusts
 * the member (no longer suspected) but keeps it counted failed, as the demand stands; the
 * withdrawal looked only at suspected members and at the unsuspected majority, so the demand
 * was never dropped, and every flush found one participant of three. Both stayed in view 1 for
 * good, blocked, the restarted member's join never admitted (sequential-state, self-delivery,
 * liveness and progress violations).
 */
describe('gms: a demanded removal that leaves no majority for the flush', () => {
  it('is dropped once the member is heard, though it is no longer suspected (RPC seed 5060244)', () => {
    const net = foundGroup(3);
    const [a, b, c] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
    // c crashes: everything to and from it is lost from now on.
    for (const n of [a, b]) {
      net.loseLink(c, n);
      net.loseLink(n, c);
    }
    // The layer above a demands b's removal: a flushes with c, which it does not suspect yet.
    a.layer.down({ type: 'suspect', member: b.id, reason: 'lagging 1050 ms' });
    net.run(net.now + 20);
    expect(net.sentOf(a, GmsKind.Prepare).at(-1)?.[3]).toEqual([a.id, c.id]);
    // A Prepare of b for a higher attempt (one of its own, held on a link until then) reaches
    // a mid-flush: a takes it and trusts b, whose removal still stands.
    const all = [a.id, b.id, c.id];
    net.inject(a, b.id, [GmsKind.Prepare, 2, 5, all, all.map(() => 'x:1')]);
    // a's attempts without b time out on c; with c failed too, only b can make a majority.
    expect(net.runUntil(() => viewIdOf(net, a) === 2, net.now + 5_000)).toBe(true);
    for (const n of [a, b]) {
      expect(net.view(n)!.members).toEqual([a.id, b.id]);
      expect(net.blocked(n) || net.stopped(n)).toBe(false);
    }
  });
});
