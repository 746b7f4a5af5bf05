import { StackConfigError } from '../errors.js';
import { Stack, type StackInit } from './stack.js';
import type { LayerFactory, LayerSpec } from './types.js';

/** Layers known by name. A stack is built from data, as JGroups builds from XML. */
export class LayerRegistry {
  private readonly factories = new Map<string, LayerFactory>();

  constructor(factories: readonly LayerFactory[] = []) {
    for (const f of factories) this.register(f);
  }

  register(factory: LayerFactory): this {
    this.factories.set(factory.name, factory);
    return this;
  }

  get(name: string): LayerFactory | undefined {
    return this.factories.get(name);
  }

  /** A copy with some factories replaced (tests swap in a mutated layer this way). */
  with(...factories: LayerFactory[]): LayerRegistry {
    const copy = new LayerRegistry([...this.factories.values()]);
    for (const f of factories) copy.register(f);
    return copy;
  }
}

/**
 * Check a stack specification (top layer first, as Horus writes `TOTAL:MBRSHIP:NAK:COM`)
 * against each layer's stated requirements. Throws {@link StackConfigError} naming both
 * layers when a requirement is provided only above the layer that needs it.
 */
export function checkSpec(specs: readonly LayerSpec[], registry: LayerRegistry): LayerFactory[] {
  if (specs.length === 0) throw new StackConfigError('STACK_EMPTY', 'a stack needs at least one layer');
  const factories = specs.map((s) => {
    const f = registry.get(s.name);
    if (!f) throw new StackConfigError('STACK_UNKNOWN_LAYER', `unknown layer '${s.name}'`);
    return f;
  });
  const seen = new Set<string>();
  for (const f of factories) {
    if (seen.has(f.name))
      throw new StackConfigError('STACK_DUPLICATE_LAYER', `layer '${f.name}' appears twice`);
    seen.add(f.name);
  }
  factories.forEach((f, i) => {
    for (const need of f.requires) {
      if (factories.slice(i + 1).some((below) => below.provides.includes(need))) continue;
      const above = factories.slice(0, i).find((a) => a.provides.includes(need));
      if (above)
        throw new StackConfigError(
          'STACK_ORDER',
          `layer '${f.name}' requires '${need}' below it, but '${above.name}', which provides it, is above it`,
        );
      throw new StackConfigError(
        'STACK_MISSING',
        `layer '${f.name}' requires '${need}' below it, and no layer below provides it`,
      );
    }
  });
  const bottom = factories[factories.length - 1]!;
  if (!bottom.provides.includes('transport'))
    throw new StackConfigError(
      'STACK_NO_TRANSPORT',
      `the bottom layer '${bottom.name}' does not provide 'transport'`,
    );
  return factories;
}

/** Build a stack from its specification. */
export function buildStack(specs: readonly LayerSpec[], registry: LayerRegistry, init: StackInit): Stack {
  const factories = checkSpec(specs, registry);
  return new Stack(
    factories.map((factory, i) => ({ factory, spec: specs[i]! })),
    init,
  );
}

/** Parse the compact form `total:membership:nak:com` into specs (options from `options[name]`). */
export function parseSpec(text: string, options: Record<string, Record<string, unknown>> = {}): LayerSpec[] {
  return text
    .split(':')
    .map((n) => n.trim())
    .filter((n) => n.length > 0)
    .map((name) => (options[name] ? { name, options: options[name] } : { name }));
}
