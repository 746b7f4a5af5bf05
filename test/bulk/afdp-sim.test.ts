import { describe, expect, it } from 'vitest';
import { type BulkScenario, runBulk } from './world.js';

/** Seeds per scenario; replay one with `BULK_SEED=n npx vitest run test/bulk/afdp-sim.test.ts`. */
const SEEDS = process.env.BULK_SEED
  ? [Number(process.env.BULK_SEED)]
  : Array.from({ length: 12 }, (_, i) => i + 1);

function check(sc: BulkScenario): ReturnType<typeof runBulk> {
  const out = runBulk(sc);
  const why = `seed ${sc.seed} (replay: BULK_SEED=${sc.seed} npx vitest run test/bulk/afdp-sim.test.ts)`;
  expect(out.finishedAt, `sender never finished, ${why}`).toBeDefined();
  for (let r = 1; r <= sc.receivers; r++) {
    if (r === out.crashed) continue;
    expect(out.received.get(r), `receiver ${r}, ${why}`).toBe(out.digest);
  }
  return out;
}

describe('afdp over the simulated network', () => {
  for (const seed of SEEDS) {
    it(`loss, duplicates, reordering, a crash, a late joiner and a multicast-deaf receiver (seed ${seed})`, () => {
      const out = check({
        seed,
        receivers: 5,
        bytes: 300_000 + seed * 1_001,
        loss: 0.05,
        dup: 0.03,
        jitterMs: 3,
        noMulticast: [4],
        crash: { node: 2, atMs: 15 + (seed % 7) * 5 },
        late: { node: 5, atMs: 40 + (seed % 5) * 20 },
        key: 'k'.repeat(32),
        afdp: { chunk: 1024 },
      });
      const dropped = out.events.filter((e) => e.type === 'dropped').map((e) => e.member);
      const fin = out.events.find((e) => e.type === 'finished');
      // Node 2 crashed: dropped after joining, or never joined; nobody else is missing.
      if (fin?.type === 'finished' && fin.absent.length > 0) {
        expect(fin.absent).toEqual(['10.0.0.3:7000']);
        expect(dropped).toEqual([]);
      } else expect(dropped).toEqual(['00000003.1']);
      // The multicast-deaf receiver was switched to unicast from what the sender saw.
      expect(out.events).toContainEqual({ type: 'mode', member: '00000005.1', mode: 'unicast' });
      expect(out.events.some((e) => e.type === 'joined' && e.member === '00000006.1' && e.late)).toBe(true);
    });
  }

  it('NAK suppression: a NAK heard from another receiver keeps ours back', () => {
    const out = check({
      seed: 7,
      receivers: 6,
      bytes: 200_000,
      loss: 0.08,
      dup: 0,
      jitterMs: 1,
      afdp: { chunk: 1024 },
    });
    const suppressed = out.stats.slice(1).reduce((s, st) => s + (st.afdp?.naksSuppressed ?? 0), 0);
    expect(suppressed).toBeGreaterThan(0);
    // Without suppression (quiet period 0) the same losses cost more NAKs.
    const loud = check({
      seed: 7,
      receivers: 6,
      bytes: 200_000,
      loss: 0.08,
      dup: 0,
      jitterMs: 1,
      afdp: { chunk: 1024, suppressMs: 0.001 },
    });
    const naks = (o: typeof out): number =>
      o.stats.slice(1).reduce((s, st) => s + (st.afdp?.naksSent ?? 0), 0);
    expect(naks(out)).toBeLessThan(naks(loud));
  });

  it('the AFDP rate rule: the gap shrinks per clean packet and widens per resend request', () => {
    const clean = check({
      seed: 3,
      receivers: 2,
      bytes: 100_000,
      loss: 0,
      dup: 0,
      jitterMs: 0,
      afdp: { chunk: 1000 },
    });
    // 100 packets, 0.01 ms less each from 2 ms: 1 ms, and no NAK ever widened it.
    expect(clean.stats[0]!.afdp!.gapMicros).toBe(1000);
    expect(clean.stats[0]!.afdp!.widened).toBe(0);
    const lossy = check({
      seed: 3,
      receivers: 2,
      bytes: 100_000,
      loss: 0.1,
      dup: 0,
      jitterMs: 0,
      afdp: { chunk: 1000 },
    });
    const st = lossy.stats[0]!.afdp!;
    expect(st.widened).toBeGreaterThan(0);
    // gap = 2 ms - 0.01 ms per packet sent (floor 0.02) + 0.1 ms per NAK (cap 50): replay the rule.
    expect(st.gapMicros).toBeGreaterThan(1000);
  });
});

describe('afdp Joins without a key (FINDINGS 208)', () => {
  const base: BulkScenario = { seed: 5, receivers: 3, bytes: 200_000, loss: 0.05, dup: 0.02, jitterMs: 2 };
  const unproven = (out: ReturnType<typeof runBulk>) => out.stats[0]!.afdp?.joinsUnproven;

  it('a receiver at its seed address echoes the cookie its Announce carried: no Challenge', () => {
    expect(unproven(check(base))).toBe(0);
  });

  it('receivers given to the sender by host name prove the address they answer from, and get the file', () => {
    const out = check({ ...base, seedNames: true });
    // Each Join from an address the Announce's cookie was not for was challenged once at least.
    expect(unproven(out)).toBeGreaterThanOrEqual(3);
    expect(
      out.events.filter((e) => e.type === 'joined').map((e) => e.type === 'joined' && e.address),
    ).toEqual(expect.arrayContaining(['10.0.0.2:7000', '10.0.0.3:7000', '10.0.0.4:7000']));
  });

  it('with a key a Join is taken as before, whatever address it comes from', () => {
    expect(unproven(check({ ...base, seedNames: true, key: 'k'.repeat(32) }))).toBe(0);
  });
});
