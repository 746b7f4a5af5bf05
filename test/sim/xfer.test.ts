// The `xfer` fault (test/sim/patterns.ts planStateTransferCut): it strikes 0-5 ms after a member
// takes a state snapshot for a joiner: the provider stopped or cut off, or the network changed
// under the transfer; the group invariants hold under it.
import { describe, expect, it } from 'vitest';
import { GROUP_CHECKERS } from './group-checkers.js';
import { groupConfig, runScenario } from './scenario.js';
import type { Fault } from './world.js';

const FAULTS: Fault[] = ['loss', 'dup', 'reorder', 'delay', 'crash', 'partition', 'xfer'];

describe('xfer', () => {
  it('strikes the provider, or the network, as a state transfer starts', () => {
    const kinds = new Map<string, number>();
    for (let seed = 430910001; seed <= 430910040 && kinds.size < 4; seed++) {
      const cfg = { ...groupConfig(seed, 3 + (seed % 5), FAULTS), trace: true, rejoin: 'same' as const };
      const snapshots: { node: number; at: number }[] = [];
      const r = runScenario(cfg, GROUP_CHECKERS, (w) => {
        // Watch every snapshot (the fault's own hook is added later, at its planned moment).
        w.snapshotHooks.push((node) => snapshots.push({ node, at: w.now }));
      });
      expect(r.violations).toEqual([]);
      for (const [k, l] of r.trace.entries()) {
        const m =
          / XFER (pause provider|cut provider|heal during the transfer from|split during the transfer from) n(\d+)/.exec(
            l,
          );
        if (!m) continue;
        const kind = m[1]!.split(' ')[0]!;
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        const at = Number(l.split(' ')[0]);
        // That member took a snapshot 0-5 ms before.
        expect(snapshots.some((s) => s.node === Number(m[2]) && s.at <= at && at - s.at <= 5)).toBe(true);
        // And what it says follows at once.
        const next = r.trace[k + 1]!;
        if (kind === 'pause') expect(next).toMatch(new RegExp(`^${at.toFixed(3)} n${m[2]}\\S* PAUSE `));
        if (kind === 'cut') expect(next).toMatch(/ LINKS /);
        if (kind === 'heal') expect(next).toMatch(/ HEAL$/);
        if (kind === 'split') expect(next).toMatch(/ PARTITION /);
      }
    }
    // Every kind of strike, within these seeds.
    expect([...kinds.keys()].sort()).toEqual(['cut', 'heal', 'pause', 'split']);
  });
});
