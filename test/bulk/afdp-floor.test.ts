import { describe, expect, it } from 'vitest';
import { type BulkScenario, runBulk } from './world.js';

/**
 * The user-set rate floor (`floorBytesPerSec`): one receiver behind a lossy link cannot pace the
 * others below it. Replay one seed with `BULK_SEED=n npx vitest run test/bulk/afdp-floor.test.ts`.
 */
const SEEDS = process.env.BULK_SEED ? [Number(process.env.BULK_SEED)] : [1, 2, 3, 4, 5, 6];
const BYTES = 3_000_000;
const CHUNK = 1024;
/** A floor the lossy receiver of the second case stays above. */
const FLOORED = { floorBytesPerSec: 1_000_000, floorGraceMs: 1000 };

function scenario(seed: number, lossy: number | undefined, afdp: Record<string, unknown>): BulkScenario {
  return {
    seed,
    receivers: 4,
    bytes: BYTES,
    loss: 0.01,
    dup: 0.01,
    jitterMs: 1,
    ...(lossy !== undefined ? { lossy: { node: 2, loss: lossy } } : {}),
    // A 50 %-lossy link loses announces and joins too: give it time to join at all.
    afdp: { chunk: CHUNK, joinWindowMs: 5000, ...afdp },
  };
}

/** When the slowest of the receivers on clean links (1, 3, 4) held the whole blob. */
function othersDone(out: ReturnType<typeof runBulk>): number {
  for (const r of [1, 3, 4]) expect(out.received.get(r), `receiver ${r}`).toBe(out.digest);
  return Math.max(...[1, 3, 4].map((r) => out.receivedAt.get(r)!));
}

describe('afdp rate floor', () => {
  for (const seed of SEEDS) {
    it(`a receiver below the floor is cut and the others finish within the bound (seed ${seed})`, () => {
      const floor = 10_000_000;
      const graceMs = 100;
      const out = runBulk(scenario(seed, 0.5, { floorBytesPerSec: floor, floorGraceMs: graceMs }));
      const dropped = out.events.filter((e) => e.type === 'dropped');
      expect(dropped.map((e) => e.member)).toEqual(['00000003.1']);
      expect(dropped[0]!.type === 'dropped' && dropped[0]!.reason).toMatch(/^below the rate floor: \d+ B\/s/);
      // The receiver was told, and stopped (it neither finished nor kept asking for ever).
      expect(out.events.some((e) => e.type === 'cut')).toBe(true);
      expect(out.received.has(2)).toBe(false);
      // The bound: the blob at the floor rate, plus the grace the slow one had before it was cut.
      const bound = (BYTES / floor) * 1000 + graceMs;
      expect(othersDone(out)).toBeLessThanOrEqual(bound);
      // The sender's gap never widened past the floor's (chunk / floor).
      expect(out.stats[0]!.afdp!.gapMicros).toBeLessThanOrEqual(Math.ceil((CHUNK / floor) * 1e6));
      // Without a floor the same lossy receiver paces everyone: the others finish past the bound.
      const unbounded = runBulk(scenario(seed, 0.5, {}));
      expect(othersDone(unbounded)).toBeGreaterThan(othersDone(out));
    });

    it(`a lossy receiver above the floor is not dropped and finishes later (seed ${seed})`, () => {
      const out = runBulk(scenario(seed, 0.2, FLOORED));
      expect(out.events.filter((e) => e.type === 'dropped')).toEqual([]);
      expect(out.received.get(2)).toBe(out.digest);
      expect(out.receivedAt.get(2)!).toBeGreaterThan(othersDone(out));
    });
  }

  it('a lossy receiver above the floor does not slow the others, over the seeds', () => {
    // Against the same transfer with no lossy receiver at all. Taken seed by seed (at most 1.5×)
    // it measured the network's draws, which shift with every packet either side sends: on seeds
    // 17..56 main exceeded 1.5× on 6 of 40 (median 1.18, max 1.60), and so did the code after
    // FINDINGS 211 (median 1.16, max 2.12). Without a floor the same seeds 1..6 average 2.5×.
    const ratios = SEEDS.map(
      (seed) =>
        othersDone(runBulk(scenario(seed, 0.2, FLOORED))) /
        othersDone(runBulk(scenario(seed, undefined, FLOORED))),
    );
    expect(ratios.reduce((a, b) => a + b, 0) / ratios.length).toBeLessThanOrEqual(1.5);
  });
});
