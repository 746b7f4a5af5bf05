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
    if (!net.runUntil(() => viewIdOf(net, net.nodes[0]!) > before, net.now + 3_000)) throw new Error(`leave ${i}`);
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
