// FINDINGS 234: while joining, a keyless joiner sent Joins wherever an unproven packet pointed
// it. A Here's coordinator address became its hint, sent Joins every Join period for the
// 2 × suspectMs the Here was credited, and a Join from any address made that address one of the
// joiners it sent Joins to every period for 3 × suspectMs: one forged datagram drew a stream of
// Joins to an address of the forger's choosing (the forger fuzzer's `reflected` check, seeds
// 412000003, 412001590, 412001335 and 424000696, 424000732). Now a Here's address is taken only
// from a Here that echoes our challenge, and an unproven Here or Join is answered once, at its
// source, per Join period.
import { describe, expect, it } from 'vitest';
import { GmsKind } from '../../runtime/layers/gms.js';
import { FAST, GmsNet } from './gms-net.js';

/** Bytes-free measure: Joins the nodes sent to `address`. */
const joinsTo = (net: GmsNet, address: string) =>
  net.nodes.reduce(
    (n, x) => n + x.probed.filter((p) => p.to === address && p.header[0] === GmsKind.Join).length,
    0,
  );

describe('gms joiner: an unproven Here or Join draws at most one Join (FINDINGS 234)', () => {
  it('a forged Here naming another address, to each of three founders', () => {
    const net = new GmsNet(3);
    net.beacons = false;
    for (const n of net.nodes) n.layer.down({ type: 'join' });
    // From a member-like id at the forger's address, naming the victim `v9` as the coordinator.
    net.at(net.now + 20, () => {
      for (const n of net.nodes)
        net.injectProbe(n, '0000dead.1', 'x9', [GmsKind.Here, 5, '0000dead.1', 'v9', '', '']);
    });
    expect(net.runUntil(() => net.nodes.every((n) => net.view(n)?.members.length === 3), 10_000)).toBe(true);
    net.run(net.now + 4 * FAST.suspectMs!);
    // Before: each founder sent Joins to v9 every Join period while the Here was credited.
    expect(joinsTo(net, 'v9')).toBe(0);
    // The source was answered once each (a member there would prove itself so).
    expect(joinsTo(net, 'x9')).toBeLessThanOrEqual(3);
  });

  it('a forged Join from another address, to each of three founders', () => {
    const net = new GmsNet(3);
    net.beacons = false;
    for (const n of net.nodes) n.layer.down({ type: 'join' });
    net.at(net.now + 20, () => {
      for (const n of net.nodes)
        net.injectProbe(n, '0000dead.1', 'v9', [GmsKind.Join, '0000dead.1', '', 1, 'c-forged']);
    });
    expect(net.runUntil(() => net.nodes.every((n) => net.view(n)?.members.length === 3), 10_000)).toBe(true);
    net.run(net.now + 4 * FAST.suspectMs!);
    // Before: every Join period for 3 × suspectMs at each founder.
    expect(joinsTo(net, 'v9')).toBeLessThanOrEqual(3);
  });
});
