// The sequencer ordering (seq) in the deterministic simulator: a quorum, not the slowest member,
// sets an ordered message's delay; the lag bound removes a member that stays behind, and only it.
import { describe, expect, it } from 'vitest';
import { GROUP_STACK, TOKEN_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes, runScenario } from '../sim/scenario.js';
import { World } from '../sim/world.js';

/** Failure detection slow enough that the stops below are not failures. */
const GMS = { heartbeatMs: 50, suspectMs: 3_000, partitionMs: 9_000, bootstrapMs: 300 };

function world(stack: string, members: number, seq: Record<string, number> = {}): World {
  const w = new World({
    ...groupConfig(7, members, []),
    stack: parseSpec(stack, { gms: GMS, seq }),
    qos: { order: 'total', resilience: 'majority' },
    endMs: 8_000,
    probeAtMs: 6_500, // the progress checker's probes, inside this shorter run
  });
  planProbes(w);
  return w;
}

/** Rank 0 of the view node 0 ended up in (the sequencer), from the first full view. */
function sequencerIndex(w: World): number {
  const v = w.nodes[0]!.rec.views.at(-1)!;
  return w.nodes.findIndex((n) => n.rec.member === v.members[0]);
}

describe('seq: quorum ordering', () => {
  for (const [name, stack, waits] of [
    ['seq', GROUP_STACK, false],
    ['token (total)', TOKEN_STACK, true],
  ] as const) {
    it(`${name}: majority casts while one member of 3 is stopped ${waits ? 'wait for it' : 'are delivered without it'}`, () => {
      const w = world(stack, 3);
      let slow = -1;
      let contact = -1;
      const seen: Record<string, number> = {};
      w.at(2_000, () => {
        const seqIdx = sequencerIndex(w);
        slow = [0, 1, 2].find((i) => i !== seqIdx)!;
        contact = [0, 1, 2].find((i) => i !== seqIdx && i !== slow)!;
        w.pause(w.nodes[slow]!, 1_000);
      });
      for (let t = 2_100; t <= 2_300; t += 50) w.at(t, () => w.cast(w.nodes[contact]!));
      w.at(2_400, () => {
        seen.during = w.nodes[contact]!.rec.delivered.filter(
          (d) => d.from === w.nodes[contact]!.rec.member,
        ).length;
      });
      w.run();
      // The token reaches the stopped member after at most one rotation and waits there.
      if (waits) expect(seen.during).toBeLessThan(5);
      else expect(seen.during).toBe(5);
      // Delivered everywhere in the end (with every member's probe), and every invariant holds.
      expect(w.probes).toHaveLength(3);
      for (const n of w.nodes) expect(n.rec.delivered.length).toBe(5 + w.probes.length);
      expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
    });
  }

  it('removes a member that stays behind past lagRemoveMs, and no other; it rejoins', () => {
    const w = world(GROUP_STACK, 4, { lagReportMs: 200, lagRemoveMs: 600 });
    let slow = -1;
    w.at(1_500, () => {
      const seqIdx = sequencerIndex(w);
      slow = (seqIdx + 2) % 4;
      // Stopped 900 ms of every second (never long enough for suspectMs), for 4 s.
      w.slow.spells.push({ node: slow, from: 1_500, to: 5_500, periodMs: 1_000, runMs: 100 });
    });
    for (let t = 1_500; t < 5_000; t += 20)
      w.at(t, () => w.cast(w.nodes[(t / 20) % 4 === slow ? 0 : (t / 20) % 4]!));
    w.run();
    const slowMembers = new Set(w.incarnations.filter((i) => i.node === slow).map((i) => i.member));
    const failed = w.incarnations.flatMap((i) =>
      i.views.flatMap((v, k) =>
        k === 0 ? [] : i.views[k - 1]!.members.filter((m) => !v.members.includes(m)),
      ),
    );
    expect(failed.length).toBeGreaterThan(0);
    for (const m of failed) expect(slowMembers.has(m)).toBe(true);
    const stats = w.incarnations.map((i) => i.stats().seq ?? {});
    expect(stats.reduce((a, s) => a + (s.lagReports ?? 0), 0)).toBeGreaterThan(0);
    expect(stats.reduce((a, s) => a + (s.lagRemovals ?? 0), 0)).toBeGreaterThan(0);
    // Back to 4 members once it keeps up again, and every invariant holds.
    expect(w.nodes[0]!.rec.views.at(-1)!.members.length).toBe(4);
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  });
});

describe('seq: a lag removal that cannot go ahead', () => {
  it('seed 45 (splits, links, fan-out): the sequencer of a view of two drops it, a joiner gets in', () => {
    // The sequencer asks gms to remove the other member of a view of two: no majority for that
    // flush. Once that member is heard again the demand is dropped, so the restarted node's
    // join is admitted instead of waiting behind it for ever.
    const faults = ['loss', 'dup', 'reorder', 'delay', 'crash', 'pause', 'splits', 'links'] as const;
    const cfg = { ...groupConfig(45, 3, faults), delivery: 'fanout' as const };
    expect(runScenario(cfg, GROUP_CHECKERS).violations).toEqual([]);
  });
});
