import { describe, expect, it } from 'vitest';
import { runBulk } from './world.js';

/**
 * Resume: receivers name the chunks they already hold in their Join (from the announced catalog),
 * and the sender sends none that every receiver holds. Replay: `BULK_SEED=n npx vitest run
 * test/bulk/afdp-held.test.ts`.
 */
const SEEDS = process.env.BULK_SEED ? [Number(process.env.BULK_SEED)] : [1, 2, 3, 4];
const BYTES = 200_000;
const CHUNK = 1000;
const base = { receivers: 3, bytes: BYTES, loss: 0.03, dup: 0.02, jitterMs: 2, afdp: { chunk: CHUNK } };

function everyoneHolds(out: ReturnType<typeof runBulk>, receivers: number): void {
  expect(out.finishedAt, 'the sender finished').toBeDefined();
  for (let r = 1; r <= receivers; r++) expect(out.received.get(r), `receiver ${r}`).toBe(out.digest);
}

describe('afdp resume: what receivers hold is not sent', () => {
  for (const seed of SEEDS) {
    it(`chunks every receiver holds are skipped; a chunk one lacks is still sent (seed ${seed})`, () => {
      // All three hold the first 120 KB; receiver 2 also holds the rest.
      const held = { 1: { from: 0, to: 120_000 }, 2: { from: 0, to: BYTES }, 3: { from: 0, to: 120_000 } };
      const out = runBulk({ seed, ...base, held });
      everyoneHolds(out, 3);
      const st = out.stats[0]!.afdp!;
      expect(st.skipped).toBe(120);
      // What was sent once at least: the 80 chunks not held by everyone (plus repairs).
      expect(st.sent! - st.resent!).toBe(80);
      // Receiver 2 held everything: it asked for nothing.
      expect(out.stats[2]!.afdp!.naksSent).toBe(0);
    });
  }

  it('a receiver holding everything completes without data; without a catalog all is sent', () => {
    const all = { 1: { from: 0, to: BYTES }, 2: { from: 0, to: BYTES } };
    const out = runBulk({ seed: 9, ...base, receivers: 2, held: all });
    everyoneHolds(out, 2);
    // Both reported done from what they held before a single chunk was due.
    expect(out.stats[0]!.afdp!.sent).toBe(0);
    expect(out.events.filter((e) => e.type === 'done')).toHaveLength(2);
    // The same transfer to receivers that hold nothing sends every chunk.
    const cold = runBulk({ seed: 9, ...base, receivers: 2 });
    everyoneHolds(cold, 2);
    expect(cold.stats[0]!.afdp!.skipped).toBe(0);
    expect(cold.stats[0]!.afdp!.sent! - cold.stats[0]!.afdp!.resent!).toBe(200);
  });
});
