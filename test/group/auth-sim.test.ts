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
const KEY = 'simulated group key, 32 bytes..';

describe('simulator with a group key', () => {
  it('30 seeds, 3..7 members, every fault: every group checker holds; duplicates are refused as replays', () => {
    const out: string[] = [];
    const totals = { replayed: 0, unauthenticated: 0, received: 0 };
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
      }
    }
    expect(out).toEqual([]);
    expect(totals.received).toBeGreaterThan(10_000);
    expect(totals.replayed).toBeGreaterThan(0);
    expect(totals.unauthenticated).toBe(0);
  });
});
