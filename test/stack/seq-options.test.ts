// The seq layer's options: a bad bound is a typed error when the stack is built, not a member that
// misjudges its sequencer later.
import { describe, expect, it } from 'vitest';
import { healthLayers } from '../../runtime/group/health.js';
import { defaultRegistry, GROUP_STACK } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';

const build = (seq: Record<string, unknown>) =>
  buildStack(parseSpec(GROUP_STACK, { seq }), defaultRegistry(), {
    self: '00000001.1',
    groupName: 'g',
    random: seededRandom(1),
  });

describe('seq options', () => {
  it.each([
    ['sequencerSlowWindowMs', -1],
    ['sequencerSlowWindowMs', Number.NaN],
    ['sequencerLateMs', 'x'],
    ['sequencerSlowShare', 0],
    ['sequencerSlowShare', 1.5],
    ['sequencerStallMs', Number.POSITIVE_INFINITY],
  ])('rejects %s = %s', (k, v) => {
    expect(() => build({ [k]: v })).toThrow(expect.objectContaining({ code: 'STACK_BAD_OPTION' }));
  });

  it('accepts the pace rule off, or tuned', () => {
    expect(() => build({ sequencerSlowWindowMs: 0 })).not.toThrow();
    expect(() =>
      build({ sequencerSlowWindowMs: 2_000, sequencerSlowShare: 1, sequencerLateMs: 0 }),
    ).not.toThrow();
  });

  it('takes the pace bounds from HealthOptions', () => {
    expect(
      healthLayers({ sequencerSlowWindowMs: 2_000, sequencerSlowShare: 0.6, sequencerLateMs: 20 }).seq,
    ).toEqual({ sequencerSlowWindowMs: 2_000, sequencerSlowShare: 0.6, sequencerLateMs: 20 });
  });
});
