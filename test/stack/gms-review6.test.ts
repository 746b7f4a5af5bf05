import { describe, expect, it } from 'vitest';
import { coordinatorFirst, foundGroup, GmsKind, type GmsNode, viewIdOf } from './gms-net.js';

/**
 * Review of 8761363 (attempt keys are Paxos ballots). Tests labelled FAILS are failing
 * demonstrations: they fail on main (229cd72) and on 73cf0ee before the change too, so none is a
 * regression of the ballots. The one marked (fixed) failed before the delivery.ts change on this
 * branch (resend the Install to a member heartbeating in the view before) and passes after it.
 */
describe('review6: ballots (8761363)', () => {
  it('FAILS: one heartbeat with a huge highestAttempt wedges every later view change', () => {
    // highestAttempt travels unbounded (any safe integer) from any member's heartbeat; every
    // member adopts it and its next attempt is above it. With attempt ≥ 2^41 the key
    // attempt × 4096 + 4095 − rank, which is also the new view's epoch, is no safe integer:
    // the Sync and Install carrying it fail to decode everywhere, including at the coordinator
    // itself, so no flush of the group ever completes again (and keys of distinct attempts and
    // ranks round to the same double). One datagram in the member's name (a buggy member, or a
    // forger in a group without a key) is enough; otherLineage's MAX_ATTEMPT_LEAD guard is
    // bypassed too, as it compares with highestAttempt itself.
    const net = foundGroup(3);
    const [a, b, c] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
    const v = net.view(a)!;
    net.inject(a, b.id, [GmsKind.Heartbeat, v.id, v.epoch, 2 ** 41, 0], true);
    // (with 2 ** 20 here view 2 comes at once)
    net.run(net.now + 100);
    // c crashes (silent for good): a and b, a majority, must install view 2 without it.
    net.partition([c], [a, b]);
    net.run(net.now + 10_000);
    expect(viewIdOf(net, a)).toBe(2);
    expect(net.view(a)!.members).toEqual([a.id, b.id]);
  });
});

describe('review6: outbidding (flushOutbid)', () => {
  it('FAILS: a participant holding an equal attempt of a lower-ranked coordinator is excluded, not outbid', () => {
    // Heartbeats carry the highest attempt *number*, the outbid rule compares numbers (`>`), but
    // a participant refuses by *key*. a (rank 0) crashes after its Prepare for attempt N reached
    // m only; b (rank 1) starts attempt N too (it had not heard of a's). m refuses b's Prepare
    // (key(N, 0) > key(N, 1)); m's heartbeats say N, which is not above b's N, so b never
    // restarts above it: at its flush timeout b suspects m, healthy and connected, and installs
    // view 2 without it (m then stops and must rejoin). Expected: b restarts above (attempt
    // N + 1) and m is in view 2, as in gms.test.ts "a coordinator refused for a lower attempt
    // starts above it, and excludes nobody".
    const net = foundGroup(5);
    const [a, b, m, x, y] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
    const all = [a.id, b.id, m.id, x.id, y.id];
    const oldA = a.id;
    net.restart(a); // a crashes (its old id names nobody any more) and does not come back
    net.cutLink(b, m, false); // b's Prepare to m waits
    expect(net.runUntil(() => net.sentOf(b, GmsKind.Prepare).length > 0, net.now + 3_000)).toBe(true);
    const n = net.sentOf(b, GmsKind.Prepare)[0]![2] as number;
    // a's last act before it crashed: its Prepare for attempt n, reaching m only.
    net.inject(m, oldA, [GmsKind.Prepare, 2, n, all, all.map(() => 'x:1')]);
    net.run(net.now + 1);
    net.heal();
    net.run(net.now + 5_000);
    expect(viewIdOf(net, b)).toBeGreaterThanOrEqual(2);
    expect(net.view(b)!.members).toContain(m.id);
    expect(net.stopped(m)).toBe(false);
  });
});

describe('review6: a lost Install', () => {
  it('the coordinator crashes with its Install lost to one member: the whole group stops (fixed)', () => {
    // 5 members g x y m z (ranks 0..4). z crashes; g's flush installs view 2 = [g, x, y, m]:
    // every participant answered, the Install reaches x and y, the copy to m is lost and g
    // crashes before it could be repaired. x, y, m (3 of the 4 members of view 2) are alive and
    // connected, yet: m stays in view 1 blocked (FlushOk sent, Install never comes: nobody sends
    // m a Prepare for view 2 or gets a Join from it, the two things that resend an Install);
    // m's old-view heartbeats do not count at x and y, whose Prepare for view 3 m ignores, so
    // they suspect m, hold 2 of 4 and stop; m sees two members of its view ahead and stops
    // ("moved to a view without this member", though view 2 has it). Nobody is left.
    // Fixed (Delivery.onViewTagged): a member of view 2 that hears m's heartbeat of view 1
    // resends it view 2's Install, as for a Join; x, y, m go on in view 3 without g.
    const net = foundGroup(5);
    const [g, x, y, m, z] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
    net.restart(z);
    expect(net.runUntil(() => net.sentOf(m, GmsKind.FlushOk).length > 0, net.now + 5_000)).toBe(true);
    net.loseLink(g, m); // what g sends m from now on is lost (never healed: g crashes)
    expect(net.runUntil(() => net.sentOf(g, GmsKind.Install).some((h) => h[1] === 2), net.now + 100)).toBe(
      true,
    );
    net.restart(g); // g crashes at once
    net.run(net.now + 20_000);
    for (const n of [x, y, m])
      expect({ n: n.index, stopped: net.stopped(n) }).toEqual({ n: n.index, stopped: false });
    expect(viewIdOf(net, x)).toBeGreaterThanOrEqual(3);
    for (const n of [y, m]) expect(net.view(n)).toEqual(net.view(x));
    expect(net.view(x)!.members).toEqual([x.id, y.id, m.id]);
  });
});

describe('review6: key encoding', () => {
  it('FAILS (low): ranks from 4095 on share one key, so two coordinators can share a ballot and an epoch', async () => {
    // attemptKey clamps the rank to 4095: in a view of more than 4096 members the coordinators
    // at ranks 4095, 4096, … get equal keys for equal attempts, and a participant takes a Prepare
    // whose key equals the one it holds from another coordinator (only `key < cur` is refused):
    // two attempts at one ballot, and two Installs with one epoch. Reaching rank ≥ 4095 as
    // coordinator takes a view of ≥ 8191 members (every lower rank suspected, a majority alive),
    // and nothing bounds the view size. Shown on the key function itself.
    const { GmsShared } = await import('../../runtime/layers/gms/state.js');
    const s = new GmsShared({ self: 'x' } as never, {} as never);
    const members = Array.from({ length: 4100 }, (_, i) => `m${i}`);
    s.view = { id: 1, members, addresses: members.map(() => ''), epoch: 1 };
    expect(s.attemptKey(7, 'm4095')).not.toBe(s.attemptKey(7, 'm4096'));
  });
});
