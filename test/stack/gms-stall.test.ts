import { describe, expect, it } from 'vitest';
import { GMS_SIM_OPTIONS, groupConfig } from '../sim/scenario.js';
import { type NodeApp, World } from '../sim/world.js';

/**
 * Issue 10 item 11: how long one fault stops the survivors' totally ordered deliveries. Five
 * members cast steadily (one cast every 5 ms, round robin) with no random faults; one fault at
 * 2.5 s; the stall is the longest gap between two ordered deliveries at a survivor in [2 s, 4.5 s].
 * The simulator's detection settings: heartbeatMs 50, suspectMs 300.
 */
type Kind =
  | 'none'
  | 'crash member'
  | 'crash coordinator'
  | 'pause 100 ms'
  | 'pause 200 ms'
  | 'pause 500 ms'
  | 'isolate 1 for 2 s';

function stall(kind: Kind, seed: number): number {
  // A recording application: when each incarnation delivered (world time), nothing else.
  const deliveredAt = new Map<number, number[]>();
  let incs = 0;
  const app = (world: World): NodeApp => {
    const times: number[] = [];
    deliveredAt.set(incs++, times);
    return {
      state: { snapshot: () => new Uint8Array(0), restore: () => {} },
      start: () => {},
      event: (ev) => {
        if (ev.type === 'deliver') times.push(world.now);
      },
      clientPacket: () => {},
    };
  };
  const cfg = { ...groupConfig(seed, 5, []), qos: { order: 'total' as const }, endMs: 5_000, app };
  const w = new World(cfg);
  for (let t = 1_500, i = 0; t < 4_500; t += 5, i++) w.at(t, () => w.cast(w.nodes[i % 5]!));
  const at = 2_500;
  const byRank = (r: number) => {
    const v = w.incarnations[0]!.views.at(-1)!;
    return w.nodes.find((n) => n.rec.member === v.members[r])!;
  };
  // The member a fault hits: its own deliveries stop while it is paused; the stall measured is
  // what the fault costs the others.
  let hit: string | undefined;
  w.at(at, () => {
    hit = byRank(kind === 'crash coordinator' ? 0 : 2).rec.member;
    if (kind === 'crash member') w.crash(byRank(2));
    if (kind === 'crash coordinator') w.crash(byRank(0));
    if (kind === 'pause 100 ms') w.pause(byRank(2), 100);
    if (kind === 'pause 200 ms') w.pause(byRank(2), 200);
    if (kind === 'pause 500 ms') w.pause(byRank(2), 500);
    if (kind === 'isolate 1 for 2 s') {
      const lone = byRank(2);
      w.partition(w.nodes.map((n) => (n === lone ? 1 : 0)));
      w.at(at + 2_000, () => w.heal());
    }
  });
  w.run();
  let worst = 0;
  for (const [k, inc] of w.incarnations.entries()) {
    if (inc.crashedAt !== null || inc.partitionedAt !== null || inc.startedAt > 0) continue;
    if (inc.member === hit) continue;
    const times = deliveredAt.get(k)!.filter((t) => t >= 2_000 && t <= 4_500);
    for (let k = 1; k < times.length; k++) worst = Math.max(worst, times[k]! - times[k - 1]!);
  }
  return worst;
}

describe('gms: stall per fault kind (issue 10 item 11)', () => {
  it('costs the survivors at most the detection time (suspectMs + 2 heartbeats) per fault', () => {
    const rows: string[] = [];
    const worst: Record<string, number> = {};
    for (const kind of [
      'none',
      'crash member',
      'crash coordinator',
      'pause 100 ms',
      'pause 200 ms',
      'pause 500 ms',
      'isolate 1 for 2 s',
    ] as Kind[]) {
      const ms = [1, 2].map((seed) => stall(kind, seed));
      worst[kind] = Math.max(...ms);
      rows.push(`${kind.padEnd(20)} ${ms.map((m) => m.toFixed(0).padStart(5)).join(' ')} ms`);
    }
    console.log(`stall per fault kind (seeds 1, 2, heartbeatMs 50, suspectMs 300):\n${rows.join('\n')}`);
    const detection = GMS_SIM_OPTIONS.gms.suspectMs + 2 * GMS_SIM_OPTIONS.gms.heartbeatMs;
    expect(worst['none']).toBeLessThan(50);
    for (const k of ['crash member', 'crash coordinator', 'pause 500 ms', 'isolate 1 for 2 s'])
      expect(worst[k]).toBeLessThanOrEqual(detection);
    expect(worst['pause 100 ms']).toBeLessThanOrEqual(100 + 50);
    // A pause over suspectMs / 2 makes the paused member hold its deliveries until it has judged
    // its view again (FINDINGS 41): that hold is its own, the others go on.
    expect(worst['pause 200 ms']).toBeLessThanOrEqual(100 + 50);
  }, 300_000);
});
