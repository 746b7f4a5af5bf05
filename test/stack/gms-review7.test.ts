import { describe, expect, it } from 'vitest';
import { coordinatorFirst, foundGroup, GmsKind, type GmsNet, type GmsNode, viewIdOf } from './gms-net.js';

/**
 * Review of fd71e2e ("attempts climb one at a time"). Each case fails on 8dd1c3c (main); fixed ones say so.
 */

/** Let `count` joiners in and out again, one after the other: 2 × count view changes. */
function churn(net: GmsNet, count: number): void {
  for (let i = 0; i < count; i++) {
    const j = net.add();
    j.layer.down({ type: 'join' });
    if (!net.runUntil(() => net.view(j) !== undefined, net.now + 3_000)) throw new Error(`join ${i}`);
    const before = viewIdOf(net, net.nodes[0]!);
    j.layer.down({ type: 'leave' });
    if (!net.runUntil(() => viewIdOf(net, net.nodes[0]!) > before, net.now + 3_000))
      throw new Error(`leave ${i}`);
    net.run(net.now + 200);
  }
}

describe('review7: attempts climb one at a time (MAX_ATTEMPT_LEAD)', () => {
  it('a member admitted to a group past attempt 64 takes the next Prepare (failed on main, fixed)', () => {
    // Attempts are never reset (every view change is max(highestAttempt, …) + 1), so a group
    // that went through 64 view changes (32 rolling restarts) flushes at attempts above 64. A new
    // member starts with highestAttempt 0 and neither Install nor view sets it: until enough of
    // the others' heartbeats came, it refuses every Prepare more than 64 above 0
    // (Participant.onPrepare → plausibleAttempt, dropped silently). A second joiner right behind
    // the first (the usual start of a deployment, or any view change within one heartbeat
    // period of the admission) makes the coordinator's Prepare reach the newcomer first: it is
    // never answered, the flush times out and the healthy newcomer is excluded (it stops, and
    // rejoins with highestAttempt 0 again).
    const net = foundGroup(3);
    churn(net, 35); // 70 view changes: the group's next attempt is above 64
    const [a] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
    const lastPrepare = net.sentOf(a, GmsKind.Prepare).at(-1) ?? [];
    expect(lastPrepare[2] as number).toBeGreaterThan(64);

    const first = net.add();
    const second = net.add();
    first.layer.down({ type: 'join' });
    expect(net.runUntil(() => net.view(first) !== undefined, net.now + 3_000)).toBe(true);
    second.layer.down({ type: 'join' }); // right behind it
    net.run(net.now + 5_000);
    expect({ refused: net.stats(first).refused, stopped: net.stopped(first) }).toEqual({
      refused: 0,
      stopped: false,
    });
    expect(net.view(a)!.members).toContain(first.id);
    expect(net.view(a)!.members).toContain(second.id);
  });
});

describe('review7: the Install resent on a heartbeat of the view before (8761363 review fix)', () => {
  it('one old-view heartbeat draws at most two Install copies, not one per member (failed on main, fixed)', () => {
    // Delivery.onViewTagged: every member of view v that hears a member's heartbeat of view v−1
    // resends it v's Install. Heartbeats are casts, so each of the n − 1 others answers: one
    // heartbeat from a member a little slow to install (any view change of a large group) or
    // one stuck in v−1 draws n − 1 Installs, each listing n members and addresses (rate-limited
    // per receiver to one per joinRetryMs, not per target). With maxMembers 4,095: about 4,094
    // Installs of ~150 KB, 600 MB at one member, every 200 ms. The Join path it copies is
    // unicast to a few seeds. Fixed: the two lowest-ranked members not suspected answer (the
    // coordinator may be the one that crashed: gms-review6 "the coordinator crashes …").
    const net = foundGroup(9);
    const [a, ...rest] = coordinatorFirst(net);
    const leaver = rest.at(-1)!;
    leaver.layer.down({ type: 'leave' });
    expect(net.runUntil(() => viewIdOf(net, a) === 2, net.now + 3_000)).toBe(true);
    net.run(net.now + 500);
    const members = net.nodes.filter((n) => net.view(n)?.id === 2 && !net.stopped(n));
    expect(members).toHaveLength(8);
    const m = members.at(-1)!;
    const others = members.filter((n) => n !== m);
    const before = others.reduce((t, n) => t + net.stats(n).installsResent!, 0);
    const v1 = a.ups.flatMap((e) => (e.type === 'view' && e.view.id === 1 ? [e.view] : []))[0]!;
    for (const n of others) net.inject(n, m.id, [GmsKind.Heartbeat, 1, v1.epoch, 0, 0], true);
    net.run(net.now + 10);
    const resent = others.reduce((t, n) => t + net.stats(n).installsResent!, 0) - before;
    expect(resent).toBeLessThanOrEqual(2);
  });
});

describe('review7: re-founding after a lost majority (48e87a7, seed-only founding)', () => {
  it('replicas added beside the seeds do not re-found with one surviving seed of three', () => {
    // Seeds n0, n1, n2; n3, n4 joined later with the same seed list (docs/api.md: "its
    // transport's address must be one of the seeds (or the group is found through the others)").
    // n0 and n1 are gone for good; n2, n3, n4 carry on (3 of 5). Then every survivor restarts (a
    // power cut, a rolling deploy gone wrong): docs/protocol.md "Re-founding" says the members
    // found the group again. Only seeds' votes count now: n2 alone is 1 of the 2 the quorum of
    // 3 seeds needs, so the three never found a group until n0 or n1 comes back at its address
    // (before 48e87a7 their three votes did). That is the rule that keeps a replica added later
    // from founding a second group beside the running one: the seeds are the bootstrap universe,
    // and a deployment that replaces seeds lists the new ones (docs/protocol.md, "Re-founding";
    // the join error says "1 of 3 seeds up, founding needs 2").
    const net = foundGroup(3);
    const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
    const added = [net.add(), net.add()];
    for (const j of added) {
      j.layer.down({ type: 'join' });
      expect(net.runUntil(() => net.view(j) !== undefined, net.now + 3_000)).toBe(true);
    }
    net.partition([n0, n1], [n2, ...added]); // n0 and n1 are gone for good
    net.run(net.now + 5_000);
    expect(net.view(n2)!.members).toHaveLength(3);
    const survivors = [n2, ...added];
    for (const n of survivors) net.restart(n);
    for (const n of survivors) n.layer.down({ type: 'join' });
    net.run(net.now + 5_000);
    expect(survivors.map((n) => net.view(n))).toEqual([undefined, undefined, undefined]);
  });
});
