import { StackConfigError } from '../errors.js';

/**
 * Checks that each of `keys` in a layer's options is a positive finite number (a safe integer
 * with `integer`); throws `STACK_BAD_OPTION` naming the layer and the option otherwise.
 */
export function requirePositive(layer: string, opts: object, keys: readonly string[], integer = false): void {
  for (const k of keys) {
    const v = (opts as Record<string, unknown>)[k];
    const ok = typeof v === 'number' && v > 0 && (integer ? Number.isSafeInteger(v) : Number.isFinite(v));
    if (!ok)
      throw new StackConfigError(
        'STACK_BAD_OPTION',
        `${layer} option ${k} must be a positive ${integer ? 'integer' : 'number'}`,
      );
  }
}
