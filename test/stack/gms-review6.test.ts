import { describe, expect, it } from 'vitest';
import { coordinatorFirst, foundGroup, GmsKind, type GmsNode, viewIdOf } from './gms-net.js';

/**
 * Review of 8761363 (attempt keys are Paxos ballots). Each test that is labelled FAILS shows a
 * problem on the code as committed; the others pin down behaviour checked and found sound.
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
