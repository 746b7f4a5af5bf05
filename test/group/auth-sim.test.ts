import { describe, expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { GMS_SIM_OPTIONS, groupConfig, runScenario } from '../sim/scenario.js';
import { ALL_FAULTS } from '../sim/world.js';

/**
 * The deterministic simulator with every packet authenticated (com option `key`), every fault
 * on. The `dup` fault now hits the replay windows: a duplicated packet is refused by com as
 * replayed (nak never sees it) and every group checker must still hold.
 */
const KEY = 'simulated group key, at least 32 bytes';

describe('simulator with a group key', () => {
  it('30 seeds, 3..7 members, every fault: every group checker holds; duplicates are refused as replays', () => {
    const out: string[] = [];
    const totals = { replayed: 0, unauthenticated: 0, received: 0, misdirected: 0 };
    for (let seed = 1; seed <= 30; seed++) {
      const cfg = {
        ...groupConfig(seed, 3 + (seed % 5), ALL_FAULTS),
        stack: parseSpec(GROUP_STACK, { ...GMS_SIM_OPTIONS, com: { key: KEY } }),
      };
      const r = runScenario(cfg, GROUP_CHECKERS);
      out.push(...r.violations.map((v) => `seed ${seed}: ${v}`));
      for (const n of r.world.incarnations) {
        const com = n.stats().com ?? {};
        totals.replayed += com.replayed ?? 0;
        totals.unauthenticated += com.unauthenticated ?? 0;
        totals.received += com.received ?? 0;
        totals.misdirected += n.stats().nak?.misdirected ?? 0;
      }
    }
    expect(out).toEqual([]);
    expect(totals.received).toBeGreaterThan(10_000);
    expect(totals.replayed).toBeGreaterThan(0);
    // A late point-to-point packet for an earlier incarnation at the same address (crash and
    // rejoin) names its receiver in the tag: com refuses it as unauthenticated, nak never sees it.
    expect(totals.misdirected).toBe(0);
  });

  it('without crashes or partitions, nothing authentic is refused as unauthenticated', () => {
    let unauthenticated = 0;
    let received = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const cfg = {
        ...groupConfig(seed, 3 + (seed % 5), ['loss', 'dup', 'reorder', 'delay']),
        stack: parseSpec(GROUP_STACK, { ...GMS_SIM_OPTIONS, com: { key: KEY } }),
      };
      const r = runScenario(cfg, GROUP_CHECKERS);
      expect(r.violations).toEqual([]);
      for (const n of r.world.incarnations) {
        unauthenticated += n.stats().com?.unauthenticated ?? 0;
        received += n.stats().com?.received ?? 0;
      }
    }
    expect(received).toBeGreaterThan(1_000);
    expect(unauthenticated).toBe(0);
  });
});
