import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { Effect } from '../../runtime/stack/types.js';
import { defaultConfig, runScenario } from '../sim/scenario.js';
import { ALL_FAULTS } from '../sim/world.js';

const make = (self: string) =>
  buildStack(parseSpec('nak:pack:com', { nak: { randomOrigins: false } }), defaultRegistry(), {
    self,
    groupName: 'g',
    random: seededRandom(2),
  });
const cast = (n: number) => ({
  type: 'cast' as const,
  msg: { headers: [], payload: new Uint8Array([n]) },
  qos: { order: 'fifo' as const },
});
const transmits = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'transmit' ? [e.bytes] : []));

describe('pack', () => {
  it('sends the casts of one turn as one packet, delivered as separate messages in order', () => {
    const a = make('0000000a.1');
    const b = make('0000000b.1');
    const before = [...a.down(cast(1), 5), ...a.down(cast(2), 5), ...a.down(cast(3), 5)];
    expect(transmits(before)).toEqual([]);
    const sent = transmits(a.advance(5));
    expect(sent).toHaveLength(1);
    const got = b
      .receive(sent[0]!, 'a:1', 6)
      .flatMap((e) => (e.kind === 'up' && e.event.type === 'deliver' ? [e.event.msg.payload[0]] : []));
    expect(got).toEqual([1, 2, 3]);
  });

  it('flushes a batch that would exceed maxBytes', () => {
    const s = buildStack(parseSpec('pack:com', { pack: { maxBytes: 300 } }), defaultRegistry(), {
      self: '0000000a.1',
      groupName: 'g',
      random: seededRandom(1),
    });
    const big = { ...cast(0), msg: { headers: [], payload: new Uint8Array(200) } };
    expect(transmits(s.down(big, 0))).toHaveLength(0);
    expect(transmits(s.down(big, 0))).toHaveLength(1);
  });

  it('keeps the nak invariants over 40 simulated seeds with every fault', () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const cfg = defaultConfig(seed, 3 + (seed % 5), ALL_FAULTS);
      bad.push(...runScenario({ ...cfg, stack: parseSpec('nak:pack:com') }).violations);
    }
    expect(bad).toEqual([]);
  });
});
