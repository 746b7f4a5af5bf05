import { describe, expect, it } from 'vitest';
import { coordinatorFirst, FAST, foundGroup, GmsKind, GmsNet, type GmsNode, viewIdOf } from './gms-net.js';

/**
 * Review of 8761363 (attempt keys are Paxos ballots). Each case failed on 229cd72 (and on 73cf0ee
 * before the ballots: none was a regression of them) and is fixed since: bounded attempts, keys
 * in heartbeats, the Install resent to a member heartbeating in the view before, maxMembers.
 */
describe('review6: ballots (8761363)', () => {
  it('one heartbeat with a huge highestKey does not wedge later view changes', () => {
    // Before: highestAttempt travelled unbounded (any safe integer) from any member's heartbeat;
    // every member adopted it and its next attempt was above it. With attempt ≥ 2^41 the key
    // attempt × 4096 + 4095 − rank, which is also the new view's epoch, is no safe integer:
    // the Sync and Install carrying it fail to decode everywhere, including at the coordinator
    // itself, so no flush of the group ever completes again (and keys of distinct attempts and
    // ranks round to the same double). One datagram in the member's name (a buggy member, or a
    // forger in a group without a key) is enough; otherLineage's MAX_ATTEMPT_LEAD guard is
    // bypassed too, as it compares with highestAttempt itself.
    const net = foundGroup(3);
    const [a, b, c] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
    const v = net.view(a)!;
    net.inject(a, b.id, [GmsKind.Heartbeat, v.id, v.epoch, (2 ** 41 - 1) * 4096, 0], true);
    net.run(net.now + 100);
    // c crashes (silent for good): a and b, a majority, must install view 2 without it.
    net.partition([c], [a, b]);
    net.run(net.now + 10_000);
    expect(viewIdOf(net, a)).toBe(2);
    expect(net.view(a)!.members).toEqual([a.id, b.id]);
  });
});

describe('review6: outbidding (flushOutbid)', () => {
  it('a participant holding an equal attempt of a lower-ranked coordinator is outbid, not excluded', () => {
    // Before: heartbeats carried the highest attempt *number* and the outbid rule compared
    // numbers (`>`), but a participant refuses by *key*. a (rank 0) crashes after its Prepare for attempt N reached
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
  it('the coordinator crashes with its Install lost to one member: the group goes on', () => {
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
  it('a view holds at most maxMembers (4,095 at most), so ranks key attempts apart', () => {
    // attemptKey clamps ranks to 4095: in a view of more members the coordinators at ranks 4095,
    // 4096, … would share keys for equal attempts (two attempts at one ballot, two Installs with
    // one epoch). Joins beyond maxMembers are refused, and maxMembers cannot exceed 4,095.
    const net = new GmsNet(3, { ...FAST, maxMembers: 3 });
    net.found();
    const extra = net.add();
    extra.layer.down({ type: 'join' });
    net.run(net.now + 2_000);
    expect(net.view(extra)).toBeUndefined();
    const c = coordinatorFirst(net)[0]!;
    expect(net.stats(c).joinsRefused).toBeGreaterThan(0);
    expect(() => new GmsNet(1, { ...FAST, maxMembers: 4_096 })).toThrow(/maxMembers must be at most 4095/);
  });
});
