import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../runtime/stack/random.js';
import { Stack } from '../../runtime/stack/stack.js';
import type { LayerContext, LayerFactory } from '../../runtime/stack/types.js';

/** Two layers that record their timers firing and let the test arm and clear them. */
function build(): { stack: Stack; ctx: LayerContext[]; fired: string[] } {
  const ctx: LayerContext[] = [];
  const fired: string[] = [];
  const factory = (name: string): LayerFactory => ({
    name,
    provides: [],
    requires: [],
    create: (c) => {
      ctx.push(c);
      return { down: () => {}, up: () => {}, timer: (key: string) => fired.push(`${name}:${key}`) };
    },
  });
  const stack = new Stack(
    [
      { factory: factory('a'), spec: { name: 'a' } },
      { factory: factory('b'), spec: { name: 'b' } },
    ],
    { self: '00000001.1', groupName: 'g', random: seededRandom(1) },
  );
  return { stack, ctx, fired };
}

// The stack keeps one timer map per layer and re-arms a timer in place (no per-call key string
// or object); these pin the behaviour the layers rely on.
describe('Stack timers', () => {
  it('fire earliest first; same instant in arming order, a re-armed timer after the others', () => {
    const { stack, ctx, fired } = build();
    ctx[0]!.setTimer('x', 5);
    ctx[1]!.setTimer('y', 5);
    ctx[1]!.setTimer('early', 2);
    ctx[0]!.setTimer('x', 5); // re-armed: now after b's y
    expect(stack.nextDeadline()).toBe(2);
    stack.advance(10);
    expect(fired).toEqual(['b:early', 'b:y', 'a:x']);
    expect(stack.nextDeadline()).toBeUndefined();
  });

  it('a key is per layer: clearing or re-arming it in one layer leaves the other', () => {
    const { stack, ctx, fired } = build();
    ctx[0]!.setTimer('t', 3);
    ctx[1]!.setTimer('t', 4);
    ctx[0]!.clearTimer('t');
    expect(stack.nextDeadline()).toBe(4);
    ctx[0]!.setTimer('t', 8);
    ctx[1]!.setTimer('t', 1); // moved earlier in place
    stack.advance(2);
    expect(fired).toEqual(['b:t']);
    expect(stack.nextDeadline()).toBe(8);
    stack.advance(8);
    expect(fired).toEqual(['b:t', 'a:t']);
  });

  it('a fired timer is gone; armed again, it fires at its new time only', () => {
    const { stack, ctx, fired } = build();
    ctx[0]!.setTimer('loop', 1);
    stack.advance(1);
    ctx[0]!.setTimer('loop', 1);
    stack.advance(1.5);
    expect(fired).toEqual(['a:loop']);
    stack.advance(2);
    expect(fired).toEqual(['a:loop', 'a:loop']);
  });
});
