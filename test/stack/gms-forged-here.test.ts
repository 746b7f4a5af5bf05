// FINDINGS 120 (session 25's hostile-input review): a joiner took any `Here` or `Lineage` beacon,
// from any address, as proof that a group exists and never founded while one came every
// 3 × suspectMs: one 33-byte datagram per seed that often kept a keyless group from founding
// (and from re-founding after a lost majority), for good. The rule guards against founding a
// second group beside a running one whose addresses the joiner does not know (chaos seed 42,
// FINDINGS 34), so it stays for a group that answers: every Here now echoes the challenge of
// the Join it answers, and word of a group from an address that has not answered a Join of
// ours holds founding back for 2 × suspectMs from when it was first heard, no longer
// (FINDINGS 134).
import { describe, expect, it } from 'vitest';
import { GmsKind } from '../../runtime/layers/gms.js';
import { FAST, GmsNet, type GmsNode } from './gms-net.js';

function joinAll(nodes: GmsNode[]): void {
  for (const n of nodes) n.layer.down({ type: 'join' });
}

/** A forger at `n9` sends each node `header` every `everyMs` from `from` until `until`. */
function forge(net: GmsNet, nodes: GmsNode[], header: unknown[], everyMs: number, until: number): void {
  for (let t = net.now; t < until; t += everyMs)
    net.at(t, () => {
      for (const n of nodes) net.injectProbe(n, '0000dead.1', 'n9', header);
    });
}

describe('gms: word of a group that never answers a Join', () => {
  const period = 3 * FAST.suspectMs! - 50; // inside the 3 × suspectMs a Here used to hold
  for (const [kind, header] of [
    ['Here', [GmsKind.Here, 5, '0000dead.1', 'n9', '']],
    ['Lineage', [GmsKind.Lineage, 5, 4096, '0000dead.1', 'n9']],
  ] as const)
    it(`three seeds found their group though a forged ${kind} reaches each every ${period} ms`, () => {
      const net = new GmsNet(3);
      net.beacons = false;
      const nodes = [...net.nodes];
      forge(net, nodes, [...header], period, 10_000);
      joinAll(nodes);
      // Before: no view at all in 10 s (the joins of a real group would end in JOIN_TIMEOUT).
      expect(net.runUntil(() => nodes.every((n) => net.view(n)?.members.length === 3), 10_000)).toBe(true);
      // Held back once: 2 × suspectMs of grace, then bootstrap as usual.
      expect(net.now).toBeLessThan(2 * FAST.suspectMs! + 4 * FAST.bootstrapMs!);
      expect(nodes.some((n) => (net.stats(n).claimsUnproven ?? 0) > 0)).toBe(true);
    });

  it('a running group that beacons to seed joiners from addresses they do not know still admits them', () => {
    // The guard (chaos seed 42): joiners at a majority of the seeds hear of a group only by its
    // coordinator's Lineage beacons, from a non-seed address. Its coordinator answers their Joins
    // (the challenge echoed), so they keep from founding and are admitted into its view.
    const net = new GmsNet(0);
    net.beacons = false;
    const seeds = ['n0', 'n1', 'n2'];
    const joiners = [net.add(seeds), net.add(seeds), net.add(seeds)];
    // n3..n5 found a group whose seeds include two of the joiners' (its coordinator beacons there).
    const groupSeeds = ['n3', 'n4', 'n5', 'n0', 'n1'];
    const group = [net.add(groupSeeds), net.add(groupSeeds), net.add(groupSeeds)];
    net.found(group);
    expect(net.view(group[0]!)?.members.length).toBe(3);
    joinAll(joiners);
    const all = [...joiners, ...group];
    expect(net.runUntil(() => all.every((n) => net.view(n)?.members.length === 6), net.now + 10_000)).toBe(
      true,
    );
    // Admitted into the running lineage, not a group founded beside it.
    for (const j of joiners) expect(net.view(j)!.id).toBeGreaterThan(1);
    for (const j of joiners) expect(net.stats(j).claimsUnproven ?? 0).toBe(0);
  });
});
