/**
 * What generated client stubs call at run time (codegen/emit-client.ts). One function, here
 * rather than copied into every generated module.
 */
import type { CallOptions } from './api.js';
import { isPlainObject } from './client.js';
import { STUB_REPLY } from './client-options.js';

/**
 * A stub call's options: the caller's `opts` over the method's `defaults`, with the reply mode
 * of the stub view it was called on. From plain JavaScript, a value in the options' place that
 * is not a plain object, or `extra` arguments past the options, go to the client as given: it
 * refuses them with a `CallOptionError` (`BAD_CALL_OPTION`) before sending anything.
 *
 * @example
 * ```ts
 * // What a generated `put(key, value, opts?)` does with its arguments:
 * stubCallOptions({ timeoutMs: 500 }, [], 'first'); // { timeoutMs: 500, reply: 'first' }
 * stubCallOptions(undefined, ['x'], 'first'); // [undefined, 'x']: refused by invoke()
 * ```
 */
export function stubCallOptions(
  opts: Omit<CallOptions, 'reply'> | undefined,
  extra: readonly unknown[],
  reply: NonNullable<CallOptions['reply']>,
  defaults?: Omit<CallOptions, 'reply'>,
): CallOptions {
  if (extra.length > 0) return [opts, ...extra] as CallOptions;
  if (opts === undefined) return { ...defaults, reply };
  if (!isPlainObject(opts)) return opts as CallOptions;
  // From plain JavaScript a `reply` in the options was overwritten by the stub's, silently: the
  // caller asked for every member's reply and got the first. Another mode is refused by invoke().
  const asked = (opts as CallOptions).reply;
  return {
    ...defaults,
    ...opts,
    reply,
    ...(asked !== undefined && asked !== reply ? { [STUB_REPLY]: asked } : {}),
  };
}
