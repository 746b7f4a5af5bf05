import { describe, expect, it } from 'vitest';
import { StackConfigError } from '../../runtime/errors.js';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, checkSpec, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { LayerFactory } from '../../runtime/stack/types.js';

const ordered: LayerFactory = {
  name: 'ordered',
  provides: ['total'],
  requires: ['reliable'],
  create: () => ({ down: () => {}, up: () => {} }),
};

describe('stack builder', () => {
  const registry = defaultRegistry().with(ordered);

  it('accepts a stack whose requirements are met below each layer', () => {
    expect(checkSpec(parseSpec('ordered:nak:com'), registry).map((f) => f.name)).toEqual([
      'ordered',
      'nak',
      'com',
    ]);
  });

  it('names both layers when a requirement sits above the layer that needs it', () => {
    expect(() => checkSpec(parseSpec('nak:ordered:com'), registry)).toThrow(
      "layer 'ordered' requires 'reliable' below it, but 'nak', which provides it, is above it",
    );
  });

  it('rejects unknown, duplicate, missing and bottomless specs with codes', () => {
    const code = (spec: string) => {
      try {
        checkSpec(parseSpec(spec), registry);
        return 'ok';
      } catch (e) {
        expect(e).toBeInstanceOf(StackConfigError);
        return (e as StackConfigError).code;
      }
    };
    expect(code('bogus:com')).toBe('STACK_UNKNOWN_LAYER');
    expect(code('nak:nak:com')).toBe('STACK_DUPLICATE_LAYER');
    expect(code('ordered:com')).toBe('STACK_MISSING');
    expect(code('')).toBe('STACK_EMPTY');
    expect(code('com:nak')).toBe('STACK_ORDER');
  });

  it('counts a malformed packet as refused and keeps running', () => {
    const s = buildStack(parseSpec('nak:com'), defaultRegistry(), {
      self: '00000001.1',
      groupName: 'g',
      random: seededRandom(1),
    });
    const effects = s.receive(new Uint8Array([1, 2, 3]), 'x:1', 0);
    expect(effects).toEqual([]);
    expect(s.stats().com?.refused).toBe(1);
  });
});
