// Review of beb93a7 / 5c09d0a (FINDINGS 194, 196): what the two new rules still let a forger with
// a member's source address (no key) do. Each test runs the same scenario without the forged
// packets first (the group lives on), then with them.
import { describe, expect, it } from 'vitest';
import { GmsKind, type GmsNode, foundGroup as group } from './gms-net.js';

const heartbeat = (viewId: number, epoch: number) => [GmsKind.Heartbeat, viewId, epoch, 0, 0];

describe('gms: forged claims against the lineage wait and the refutation', () => {
  it('a higher-lineage claim naming a member that crashed as it installed stops nobody', () => {
    // n3 joins a group of three and crashes the moment it installs view 2, before its first
    // message of it. The others suspect it and go on in view 3. One forged Heartbeat per
    // survivor in n3's name (view 2, a higher epoch) from its address: n3 is never heard in view
    // 2, so the `lineage` wait (3 heartbeat intervals) ends with n3 "in the other lineage", and
    // every survivor stops, well before suspectMs would have excluded n3.
    const run = (attack: boolean) => {
      const net = group(3);
      const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
      const n3 = net.add();
      n3.layer.down({ type: 'join' });
      expect(net.runUntil(() => net.view(n3)?.id === 2, net.now + 3_000)).toBe(true);
      for (const n of [n0, n1, n2]) net.loseLink(n3, n);
      net.pause(n3, 60_000);
      net.run(net.now + 1); // n0's own copy of the Install, sent last
      const epoch = net.view(n3)!.epoch!;
      if (attack) for (const n of [n0, n1, n2]) net.inject(n, n3.id, heartbeat(2, epoch + 4096));
      net.run(net.now + 2_000);
      return { net, survivors: [n0, n1, n2] };
    };
    const quiet = run(false);
    expect(quiet.survivors.map((n) => quiet.net.stopped(n))).toEqual([false, false, false]);
    expect(quiet.survivors.map((n) => quiet.net.view(n)!.id)).toEqual([3, 3, 3]);
    // Before 5c09d0a the same Heartbeat stopped them at once; now 3 heartbeat intervals later
    // (150 ms here), all three: "view 2 was also installed by another coordinator".
    const forged = run(true);
    expect(forged.survivors.map((n) => forged.net.stopped(n))).toEqual([false, false, false]);
  });

  it('forged heartbeats of our view do not keep an excluded member in its dead view', () => {
    // n2 is cut off for 500 ms (below partitionMs); n0 and n1 exclude it and go on in view 2.
    // When the links heal n2 hears their view-2 traffic (casts reach every node, as IP multicast
    // does): the coordinator shows it left behind and it stops after suspectMs. A forger sends n2
    // Heartbeats of view 1 under the old epoch in n0's and n1's names from their addresses: each
    // refutes the true claim (docs/protocol.md "Left behind"), n0's and n1's claims then count for
    // nothing for suspectMs, and `behind` is disarmed each time. n2 stays in view 1, a view the
    // group left, counting every member alive (forged heartbeats alone could not do that before:
    // the later view's traffic stopped it).
    const run = (attack: boolean) => {
      const net = group(3);
      const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
      const epoch = net.view(n2)!.epoch!;
      for (const [a, b] of [
        [n0, n2],
        [n2, n0],
        [n1, n2],
        [n2, n1],
      ] as const)
        net.loseLink(a, b);
      net.run(net.now + 500);
      expect(net.view(n0)!.id).toBe(2);
      expect(net.view(n2)!.id).toBe(1);
      net.heal();
      const t0 = net.now;
      if (attack)
        for (let t = 0; t < 5_000; t += 40)
          net.at(t0 + t, () => {
            net.inject(n2, n0.id, heartbeat(1, epoch));
            net.inject(n2, n1.id, heartbeat(1, epoch));
          });
      net.run(t0 + 5_000);
      return { net, n2 };
    };
    const quiet = run(false);
    expect(quiet.net.stopped(quiet.n2)).toBe(true);
    // Now n2 asks n0 and n1 for their view's Install with a challenge; they answer with a Here
    // of view 2 echoing it (n2 is no member of it), which nothing refutes.
    const forged = run(true);
    expect(forged.net.stopped(forged.n2)).toBe(true);
  });

  it('three forged claims per member, each a suspectMs after the last, stop nobody (review of c9e766d)', () => {
    // A cap of two refutations per member and view (c9e766d) spent a member's refutations on
    // forged claims as readily as on real ones: the coordinator's own heartbeats refuted the first
    // two claims in its name, and the third stood; `behind` ran out and n1 and n2 stopped as left
    // behind, and n0, alone, stopped too. Now no cap: only a claimant's Here of a later view
    // echoing our challenge ends refutation.
    const run = (attack: boolean) => {
      const net = group(3);
      const [n0, n1, n2] = net.nodes as [GmsNode, GmsNode, GmsNode];
      const epoch = net.view(n2)!.epoch!;
      const t0 = net.now;
      if (attack)
        for (let k = 0; k < 4; k++)
          net.at(t0 + k * 600, () => {
            for (const n of [n1, n2]) net.inject(n, n0.id, heartbeat(2, epoch));
          });
      net.run(t0 + 4_000);
      return [n0, n1, n2].map((n) => net.stopped(n));
    };
    expect(run(false)).toEqual([false, false, false]);
    expect(run(true)).toEqual([false, false, false]);
  });
});
