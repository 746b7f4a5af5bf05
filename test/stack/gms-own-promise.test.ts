import { expect, it } from 'vitest';
import { coordinatorFirst, GmsKind, type GmsNode, foundGroup as group } from './gms-net.js';

/**
 * FINDINGS 236. b coordinates an attempt of view 2 without c (cut off), answers its own Sync with
 * FlushOk, and a's FlushOk does not reach it; then c's stronger Prepare comes and b yields: it
 * abandons its attempt (a drops its promise of it on the Abandon). b's Digest to c must not carry
 * a promise of that attempt either: c would adopt it and install a view a refuses (RPC seed
 * 421500352: the group dissolved). Before the fix its Digest carried b's own promise.
 */
it('a coordinator that yields to a stronger Prepare reports no promise of the attempt it abandoned', () => {
  const net = group(3);
  const [c, b, a] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
  net.partition([c], [b, a]);
  expect(net.runUntil(() => net.sentOf(b, GmsKind.Sync).length > 0, net.now + 3_000)).toBe(true);
  net.cutLink(a, b, false);
  expect(net.runUntil(() => net.sentOf(a, GmsKind.FlushOk).length > 0, net.now + 100)).toBe(true);
  net.run(net.now + 5);
  expect(net.view(b)!.id).toBe(1);
  const ours = net.sentOf(b, GmsKind.Sync)[0]![2] as number;
  const all = [c.id, b.id, a.id];
  net.inject(b, c.id, [GmsKind.Prepare, 2, ours + 1, all, all.map(() => 'x:1')]);
  net.run(net.now + 5);
  expect(net.sentOf(b, GmsKind.Abandon).length).toBeGreaterThan(0);
  const digest = net.sentOf(b, GmsKind.Digest).at(-1)!;
  expect(digest[2]).toBe(ours + 1);
  // No promise (a sixth field) of b's own abandoned attempt.
  expect(digest.length).toBe(5);
});
