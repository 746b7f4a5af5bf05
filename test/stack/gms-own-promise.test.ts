import { expect, it } from 'vitest';
import { coordinatorFirst, GmsKind, type GmsNode, foundGroup as group, installOf } from './gms-net.js';

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

/**
 * The same for a participant: q answers p's attempt 5 (FlushOk), then takes c's stronger Prepare 6
 * (p left out of it), keeping 5 as its promise; p's Abandon of 5 comes after. Attempt 5 will never
 * be installed by p, so q's Digest to c's next attempt must not offer it for adoption.
 */
it('a promise of an attempt its coordinator abandons after the participant left it is dropped', () => {
  const net = group(3);
  const [c, p, q] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
  net.partition([q], [c, p]); // only the injected messages reach q
  const addrs = (m: string[]) => m.map(() => 'x:1');
  const pq = [p.id, q.id];
  net.inject(q, p.id, [GmsKind.Prepare, 2, 5, pq, addrs(pq)]);
  net.run(net.now + 5);
  const ends = [c.id, p.id, q.id].map((m) => [m, 0, m]);
  net.inject(q, p.id, [GmsKind.Sync, 2, 5, ends, installOf(5, 1, pq, [c.id])]);
  net.run(net.now + 5);
  expect(net.sentOf(q, GmsKind.FlushOk)).toHaveLength(1);
  const cq = [c.id, q.id];
  net.inject(q, c.id, [GmsKind.Prepare, 2, 6, cq, addrs(cq)]);
  net.run(net.now + 5);
  // Its Digest to 6 offers the promise of 5 (p may still install it).
  expect(net.sentOf(q, GmsKind.Digest).at(-1)).toHaveLength(6);
  net.inject(q, p.id, [GmsKind.Abandon, 2, 5]);
  net.run(net.now + 5);
  net.inject(q, c.id, [GmsKind.Prepare, 2, 7, cq, addrs(cq)]);
  net.run(net.now + 5);
  const digest = net.sentOf(q, GmsKind.Digest).at(-1)!;
  expect(digest[2]).toBe(7);
  expect(digest).toHaveLength(5);
});
