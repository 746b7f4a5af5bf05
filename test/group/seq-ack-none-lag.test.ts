// Review of edc5909 (the Ack timer is armed once, FINDINGS 33): bounding the Ack's delay must
// not let a member that truly lags escape the lag bound, and must keep the sequencer's measure
// of a healthy member within ackMs plus a hop under a steady resilience-none stream, losses and
// reordering included (an Ack is a reliable cast, repaired like any other).
import { expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

function world(faults: ('loss' | 'reorder' | 'delay')[] = []): World {
  const w = new World({
    latencyMs: 0,
    ...groupConfig(11, 3, faults),
    stack: parseSpec(GROUP_STACK, {
      gms: { heartbeatMs: 50, suspectMs: 3_000, partitionMs: 9_000, bootstrapMs: 300 },
      seq: { lagReportMs: 500, lagRemoveMs: 1_500, ackMs: 100 },
    }),
    qos: { order: 'total', resilience: 'none' },
    faultMs: 6_000,
    endMs: 9_000,
    probeAtMs: 7_500,
  });
  planProbes(w);
  for (let t = 1_500; t < 6_000; t += 10) w.at(t, () => w.cast(w.nodes[(t / 10) % 3]!));
  return w;
}

const sum = (w: World, k: string) =>
  w.incarnations
    .map((i) => (i.stats().seq ?? {}) as Record<string, number>)
    .reduce((a, s) => a + (s[k] ?? 0), 0);

it('under losses and reordering, a healthy member never trails the stamps by much more than ackMs', () => {
  const w = world(['loss', 'reorder', 'delay']);
  w.run();
  expect(sum(w, 'lagRemovals')).toBe(0);
  expect(sum(w, 'lagReports')).toBe(0);
  expect(w.incarnations).toHaveLength(3);
  // The sequencer's own measure: ackMs (100) plus a repaired loss or two, far under lagReportMs.
  const seqMax = Math.max(
    ...w.incarnations.map((i) => (i.stats().seq as Record<string, number>).lagMsMax ?? 0),
  );
  expect(seqMax).toBeLessThan(400);
  expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
});

it('a member stopped longer than lagRemoveMs (under suspectMs) is still removed as lagging', () => {
  const w = world();
  // n2 is not the sequencer of the first view (rank 0 is the founder); pause it 2.5 s mid-stream.
  let paused = -1;
  w.at(3_000, () => {
    const seqNode = w.nodes.findIndex((n) => n.rec.views.at(-1)?.members[0] === n.rec.member);
    paused = (seqNode + 1) % 3;
    w.pause(w.nodes[paused]!, 2_500);
  });
  w.run();
  expect(paused).toBeGreaterThanOrEqual(0);
  expect(sum(w, 'lagRemovals')).toBeGreaterThanOrEqual(1);
  expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
});
