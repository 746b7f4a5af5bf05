import { describe, expect, it } from 'vitest';
import { nak } from '../../runtime/layers/nak.js';
import type { Layer, LayerFactory } from '../../runtime/stack/types.js';
import { defaultConfig, runScenario } from '../sim/scenario.js';
import { ALL_FAULTS } from '../sim/world.js';

const FAULTS = ALL_FAULTS;

/** A nak that forgets to suppress duplicates of what it already delivered. */
const noDedup: LayerFactory = {
  ...nak,
  create: (ctx, o) => {
    const seen = new Set<string>();
    const inner = nak.create({ ...ctx, passUp: (ev) => ctx.passUp(ev) }, o);
    const wrapped: Layer = {
      ...inner,
      down: (ev) => inner.down(ev),
      up: (ev) => {
        inner.up(ev);
        // Re-deliver every data packet seen a second time, as a broken dedup would.
        if (ev.type === 'deliver') {
          const key = `${ev.from}:${String(ev.msg.headers.at(-1))}`;
          if (seen.has(key)) {
            const h = ev.msg.headers.at(-1);
            if (Array.isArray(h) && h[0] === 1)
              ctx.passUp({ ...ev, msg: { ...ev.msg, headers: ev.msg.headers.slice(0, -1) } });
          }
          seen.add(key);
        }
      },
      timer: (k) => inner.timer?.(k),
    };
    return wrapped;
  },
};

/** A nak that never sends NAKs: losses are never repaired. */
const noRepair: LayerFactory = {
  ...nak,
  create: (ctx, o) => nak.create(ctx, { ...o, nakMinMs: 1e9, nakMaxMs: 1e9 }),
};

describe('nak under the simulator', () => {
  it('holds FIFO, no duplicates, no invention and live delivery over 60 seeds with every fault', () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const r = runScenario(defaultConfig(seed, 3 + (seed % 5), FAULTS));
      bad.push(...r.violations.map((v) => `seed ${seed}: ${v}`));
    }
    expect(bad).toEqual([]);
  });

  it('replays a seed byte for byte', () => {
    const cfg = { ...defaultConfig(7, 5, FAULTS), trace: true };
    const a = runScenario(cfg).trace.join('\n');
    const b = runScenario({ ...cfg }).trace.join('\n');
    expect(a.length).toBeGreaterThan(1000);
    expect(a).toBe(b);
  });

  it('catches a nak that re-delivers duplicates', () => {
    const cfg = defaultConfig(3, 5, ['loss', 'dup', 'reorder']);
    const r = runScenario({ ...cfg, registry: cfg.registry.with(noDedup) });
    expect(r.violations.some((v) => v.startsWith('no-duplicates'))).toBe(true);
  });

  it('catches a nak that never repairs losses', () => {
    const cfg = defaultConfig(3, 5, ['loss']);
    const r = runScenario({ ...cfg, registry: cfg.registry.with(noRepair) });
    expect(r.violations.some((v) => v.startsWith('live-delivery'))).toBe(true);
  });

  it('keeps its retransmission buffer bounded by maxBuffer', () => {
    const cfg = defaultConfig(5, 3, ['loss']);
    const r = runScenario(
      { ...cfg, stack: [{ name: 'nak', options: { maxBuffer: 16 } }, { name: 'com' }] },
      [],
    );
    for (const inc of r.world.incarnations) expect(inc.stats().nak?.bufferHighWater).toBeLessThanOrEqual(16);
  });
});
