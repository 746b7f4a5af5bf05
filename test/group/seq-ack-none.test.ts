// A steady stream of resilience-none casts from healthy members must keep the sequencer's lag
// measure fresh: a member Acks within ackMs of an Order (docs/protocol.md), so the lag bound
// removes no one. Each Order used to re-arm the Ack timer, so under a stream it never fired, the
// sequencer saw no Acks, and healthy members were removed as lagging (the 1 KB group bench lost
// one every run). Fails before the fix: 12 Acks, 4 lag removals, 5 incarnations.
import { expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

it('healthy members under a steady resilience-none stream are never judged lagging', () => {
  const w = new World({
    latencyMs: 0,
    ...groupConfig(7, 3, []),
    stack: parseSpec(GROUP_STACK, {
      gms: { heartbeatMs: 50, suspectMs: 3_000, partitionMs: 9_000, bootstrapMs: 300 },
      seq: { lagReportMs: 500, lagRemoveMs: 1_500 },
    }),
    qos: { order: 'total', resilience: 'none' },
    endMs: 8_000,
    probeAtMs: 6_500,
  });
  planProbes(w);
  for (let t = 1_500; t < 6_000; t += 10) w.at(t, () => w.cast(w.nodes[(t / 10) % 3]!));
  w.run();
  const stats = w.incarnations.map((i) => i.stats().seq ?? {});
  const sum = (k: string) => stats.reduce((a, s) => a + ((s as Record<string, number>)[k] ?? 0), 0);
  expect(sum('acks')).toBeGreaterThan(100);
  expect(sum('lagRemovals')).toBe(0);
  expect(sum('lagReports')).toBe(0);
  expect(w.incarnations).toHaveLength(3);
  expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
});
