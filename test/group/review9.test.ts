// Review 9: the sequencer's removal rules (runtime/layers/seq.ts), scripted in the simulator.
import { describe, expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

/** The library's default detection (heartbeatMs 100, suspectMs 1000): a pause under a second is
 * no failure. The seq layer's defaults (sequencerStallMs 500). */
const GMS = { heartbeatMs: 100, suspectMs: 1_000, partitionMs: 3_000, bootstrapMs: 300 };

function world(members: number): World {
  const w = new World({
    ...groupConfig(9, members, []),
    stack: parseSpec(GROUP_STACK, { gms: GMS }),
    qos: { order: 'total', resilience: 'majority' },
    endMs: 8_000,
    probeAtMs: 6_500,
  });
  planProbes(w);
  return w;
}

/** Rank `r` of the view node 0 is in, as a node index. */
function byRank(w: World, r: number): number {
  const v = w.nodes[0]!.rec.views.at(-1)!;
  return w.nodes.findIndex((n) => n.rec.member === v.members[r]);
}

/** Members that some view change left out, with the node they ran on. */
function removed(w: World): { member: string; node: number }[] {
  const out = new Map<string, number>();
  for (const i of w.incarnations)
    i.views.forEach((v, k) => {
      if (k === 0) return;
      for (const m of i.views[k - 1]!.members)
        if (!v.members.includes(m)) out.set(m, w.incarnations.find((x) => x.member === m)!.node);
    });
  return [...out].map(([member, node]) => ({ member, node }));
}

describe('review9: the stall rule blames the sequencer for a sender it never heard', () => {
  it('one lost packet and a 700 ms pause of a non-sequencer exclude the healthy sequencer', () => {
    const w = world(4);
    let seqNode = -1;
    let sender = -1;
    w.at(2_000, () => {
      seqNode = byRank(w, 0);
      sender = byRank(w, 1);
      // One datagram from the sender to the sequencer is lost (the others get it) ...
      w.cutLink(sender, seqNode);
      w.cast(w.nodes[sender]!);
    });
    w.at(2_000.1, () => {
      w.cutLink(sender, seqNode, false, true);
      // ... and the sender stops for 700 ms right after (a GC pause): under suspectMs, so it is
      // no failure; it is the one that will repair the sequencer when it runs again.
      w.pause(w.nodes[sender]!, 700);
    });
    w.run();
    const gone = removed(w);
    const seqStats = w.incarnations.map((i) => i.stats().seq ?? {});
    const removals = seqStats.reduce((a, s) => a + (s.sequencerRemovals ?? 0), 0);
    // Whoever is removed, it must not be the sequencer, which ran and stamped everything it got.
    expect({ removals, removedNodes: gone.map((g) => g.node), seqNode }).toEqual({
      removals: 0,
      removedNodes: [],
      seqNode,
    });
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  });
});
