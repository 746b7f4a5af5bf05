import { describe, expect, it } from 'vitest';
import { MODES } from './modes.js';
import { runSeed, type SimOptions } from './run.js';

/** long.ts's stream mode: a bare stream stack, the cheapest mode, with every fault. */
const streams: SimOptions = MODES.find((m) => m.name === 'streams')!.opts;

// The digest is what `sim:long --digest` compares across commits to show a speed-up changed no
// result: it must be a function of the run alone, and it must see a different run.
describe('a seed digest', () => {
  it('is the same for the same seed, traced or not', async () => {
    const a = await runSeed(streams, 3_000_000);
    const b = await runSeed(streams, 3_000_000);
    expect(a.digest()).toMatch(/^[0-9a-f]{64}$/);
    expect(b.digest()).toBe(a.digest());
    const t1 = await runSeed({ ...streams, trace: true }, 3_000_000);
    const t2 = await runSeed({ ...streams, trace: true }, 3_000_000);
    expect(t1.trace.length).toBeGreaterThan(0);
    expect(t2.digest()).toBe(t1.digest());
    // Traced, the trace lines are in it.
    expect(t1.digest()).not.toBe(a.digest());
  });

  it('differs between seeds and between workloads', async () => {
    const a = await runSeed(streams, 3_000_000);
    const other = await runSeed(streams, 3_000_005);
    const fewer = await runSeed({ ...streams, messages: 39 }, 3_000_000);
    expect(other.digest()).not.toBe(a.digest());
    expect(fewer.digest()).not.toBe(a.digest());
  });
});
