// An idle group costs its members little: no layer wakes a member many times a second for
// nothing. seq's stall checks (every `sequencerLateMs`, 10 ms) ran on every member but the
// sequencer whether or not anything waited for a stamp: 100 wake-ups a second each, five times
// everything else the stack does when idle.
import { describe, expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

/** Wake-ups (timer runs) of each node's stack from `from` to `to`, in a world of `members`. */
function wakeUps(
  members: number,
  from: number,
  to: number,
  casts: number[] = [],
): { w: World; wakes: number[] } {
  const w = new World({
    latencyMs: 1,
    ...groupConfig(11, members, []),
    stack: parseSpec(GROUP_STACK, {}),
    qos: { order: 'total', resilience: 'majority' },
    endMs: to + 2_000,
    probeAtMs: to + 500, // the progress checker's probes, after the counted span
  });
  planProbes(w);
  const wakes = w.nodes.map(() => 0);
  w.at(from, () => {
    for (const [i, n] of w.nodes.entries()) {
      const advance = n.runner.advance.bind(n.runner);
      n.runner.advance = (t) => {
        if (w.now < to) wakes[i]!++;
        return advance(t);
      };
    }
  });
  for (const t of casts) w.at(t, () => w.cast(w.nodes[t % members]!));
  w.run();
  return { w, wakes };
}

describe('seq: an idle group', () => {
  it('does not wake its members for stall checks while nothing waits for a stamp', () => {
    const { w, wakes } = wakeUps(3, 2_000, 4_000);
    expect(w.nodes.every((n) => n.rec.views.at(-1)?.members.length === 3)).toBe(true);
    // Two idle seconds: heartbeats (100 ms), their pack flushes and nak's and stable's timers
    // are ~12 a second per member (24–28 measured); with the stall checks the non-sequencers woke
    // 204 times each.
    for (const n of wakes) expect(n).toBeLessThan(2 * 40);
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  });

  it('checks again as soon as a cast waits, and rests once it is ordered', () => {
    const casts = Array.from({ length: 20 }, (_, k) => 2_000 + 50 * k);
    const { w, wakes } = wakeUps(3, 2_000, 4_000, casts);
    const idle = wakeUps(3, 2_000, 4_000).wakes;
    // One second of a cast every 50 ms, then one idle second: more wake-ups than idle, far fewer
    // than a check every 10 ms for the two seconds took (145–149 measured; 313 with the checks).
    expect(wakes.reduce((a, b) => a + b, 0)).toBeGreaterThan(idle.reduce((a, b) => a + b, 0));
    for (const n of wakes) expect(n).toBeLessThan(2 * 100);
    expect(w.nodes[0]!.rec.delivered.length).toBeGreaterThanOrEqual(20);
    expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  });
});
