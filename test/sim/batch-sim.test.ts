import { describe, expect, it } from 'vitest';
import { batch } from '../../runtime/layers/batch.js';
import { defaultRegistry } from '../../runtime/layers/index.js';
import type { LayerContext, LayerFactory } from '../../runtime/stack/types.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { groupConfig, runScenario } from './scenario.js';
import { ALL_FAULTS } from './world.js';

/** Bursts of up to 6 casts at one instant, each drawing its own QoS: the batch layer bundles them. */
const BURST = 6;

function run(seed: number, registry = defaultRegistry()) {
  const cfg = { ...groupConfig(seed, 3 + (seed % 5), ALL_FAULTS), messages: 60, burst: BURST, registry };
  const r = runScenario(cfg, GROUP_CHECKERS);
  const batches = r.world.nodes.reduce((n, node) => n + (node.core?.stats().batch?.batches ?? 0), 0);
  return { violations: r.violations, batches };
}

/** The batch layer with its position shift left out: every cast of a batch gets the batch's one
 * `gseq`, as a layer that forgot the renumbering would deliver. */
const noShift: LayerFactory = {
  ...batch,
  create: (ctx, o) => {
    let batchGseq: number | undefined;
    const spy: LayerContext = {
      ...ctx,
      passUp: (ev) => {
        if (ev.type === 'deliver' && ev.meta.gseq !== undefined && batchGseq !== undefined)
          ctx.passUp({ ...ev, meta: { ...ev.meta, gseq: batchGseq } });
        else ctx.passUp(ev);
      },
    };
    const inner = batch.create(spy, o);
    return {
      down: (ev) => inner.down(ev),
      up: (ev) => {
        batchGseq = ev.type === 'deliver' ? ev.meta.gseq : undefined;
        inner.up(ev);
      },
      timer: (key) => inner.timer?.(key),
      stats: () => inner.stats?.() ?? {},
    };
  },
};

describe('batch layer in the group simulator (casts in bursts, every fault)', () => {
  it('keeps every group invariant while bundling bursts', () => {
    const bad: string[] = [];
    let batches = 0;
    for (let seed = 435100000; seed < 435100016; seed++) {
      const r = run(seed);
      bad.push(...r.violations.map((v) => `seed ${seed}: ${v}`));
      batches += r.batches;
    }
    expect(bad.slice(0, 5)).toEqual([]);
    // The bursts were bundled: the runs exercised batches, not only single casts.
    expect(batches).toBeGreaterThan(100);
  });

  it('the total-order checker catches casts of a batch sharing one position (mutant)', () => {
    const registry = defaultRegistry().with(noShift);
    const bad = [435100000, 435100001].flatMap((seed) => run(seed, registry).violations);
    expect(bad.some((v) => v.startsWith('total-order:'))).toBe(true);
  });
});
