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

describe('seq: a slow sequencer', () => {
  /** Casts from the members other than the sequencer, every 20 ms during its slow spell. */
  const CASTS = 140;
  const run = (stallMs: number) => {
    const w = world(GROUP_STACK, 4, { sequencerStallMs: stallMs });
    let seqIdx = -1;
    w.at(1_500, () => {
      seqIdx = sequencerIndex(w);
      // Stopped 450 ms of every 500 (never long enough for suspectMs), for 3 s.
      w.slow.spells.push({ node: seqIdx, from: 1_500, to: 4_500, periodMs: 500, runMs: 50 });
    });
    const senders = () => [0, 1, 2, 3].filter((i) => i !== seqIdx);
    for (let k = 0; k < CASTS; k++) w.at(1_600 + 20 * k, () => w.cast(w.nodes[senders()[k % 3]!]!));
    // A member that keeps running: when it delivered each of those casts (sampled every 5 ms).
    let base = 0;
    const deliveredAt: number[] = [];
    w.at(1_590, () => {
      base = w.nodes[senders()[0]!]!.rec.delivered.length;
    });
    for (let t = 1_600; t < 7_000; t += 5)
      w.at(t, () => {
        const got = w.nodes[senders()[0]!]!.rec.delivered.length - base;
        while (deliveredAt.length < Math.min(got, CASTS)) deliveredAt.push(t);
      });
    w.run();
    const seqMembers = new Set(w.incarnations.filter((i) => i.node === seqIdx).map((i) => i.member));
    const changes = w.incarnations.flatMap((i) =>
      i.views.flatMap((v, k) =>
        k === 0
          ? []
          : i.views[k - 1]!.members.filter((m) => !v.members.includes(m)).map((m) => ({ m, at: v.at })),
      ),
    );
    const stats = w.incarnations.map((i) => i.stats().seq ?? {});
    const removals = stats.reduce((a, s) => a + (s.sequencerRemovals ?? 0), 0);
    // Median delay from cast to delivery there (casts are delivered in about the order cast).
    const delays = deliveredAt.map((t, k) => t - (1_600 + 20 * k)).sort((a, b) => a - b);
    return { w, seqMembers, changes, removals, p50: delays[delays.length >> 1]! };
  };

  it('stopped 90% of the time, it loses the role within the bound, alone, and rejoins', () => {
    const on = run(250);
    const off = run(0);
    // Only the slow sequencer is ever removed.
    for (const { m } of on.changes) expect(on.seqMembers.has(m)).toBe(true);
    expect(on.removals).toBeGreaterThan(0);
    // Within the bound: a stall of 250 ms, complaints, then one flush (well under a second).
    const removedAt = Math.min(...on.changes.map((c) => c.at));
    expect(removedAt - 1_500).toBeLessThan(250 + 750);
    // The next rank 0 stamps at once, while the slow one (bound off) stamps a batch per 500 ms
    // running slot: the median cast waits a quarter of a second for it.
    expect(on.p50).toBeLessThan(50);
    expect(off.removals).toBe(0);
    expect(off.changes).toEqual([]);
    expect(off.p50).toBeGreaterThan(150);
    // It rejoined (a new incarnation) and every invariant holds, in both runs.
    for (const r of [on, off]) {
      expect(r.w.nodes[0]!.rec.views.at(-1)!.members.length).toBe(4);
      expect(GROUP_CHECKERS.flatMap((c) => c.check(r.w))).toEqual([]);
    }
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
