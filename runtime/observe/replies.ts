/**
 * Whether the members' answers to one ordered request differ: replicas that applied the same
 * requests in the same order must return the same value (or throw the same error), so a
 * difference means their states diverged or the method is nondeterministic.
 */
import type { ReplyEntry } from '../rpc/api.js';
import { encodeValue } from '../rpc/codec.js';

/**
 * True when two answering members (ok or error) disagree; failed and timed-out entries are ignored.
 * `encoded` gives an `ok` entry's value as it arrived, if known: equal bytes are equal values, so
 * only values whose bytes differ are encoded again to be compared (a member of another release may
 * encode an equal value otherwise). Encoding every value for every `all` call cost the client
 * about 1 µs a call.
 */
export function repliesDiffer(
  entries: readonly ReplyEntry<unknown>[],
  encoded: (e: ReplyEntry<unknown>) => Uint8Array | undefined = () => undefined,
): boolean {
  let first: ReplyEntry<unknown> | undefined;
  for (const e of entries) {
    if (e.status !== 'ok' && e.status !== 'error') continue;
    // Neither as it arrived nor encodable: nothing to compare.
    if (e.status === 'ok' && encoded(e) === undefined && normalized(e) === undefined) continue;
    if (first === undefined) {
      first = e;
      continue;
    }
    if (first.status !== e.status) return true;
    if (e.status === 'error') {
      const f = first as Extract<ReplyEntry<unknown>, { status: 'error' }>;
      if (f.error.code !== e.error.code || f.error.message !== e.error.message) return true;
      continue;
    }
    const a = encoded(first);
    const b = encoded(e);
    if (a !== undefined && b !== undefined && equalBytes(a, b)) continue;
    const na = normalized(first);
    const nb = normalized(e);
    // Bytes differ and a value cannot be encoded again: the bytes are all there is to go by.
    if (na === undefined || nb === undefined || na !== nb) return true;
  }
  return false;
}

/** An `ok` entry's value encoded again, as a string to compare; undefined when it cannot be. */
function normalized(e: ReplyEntry<unknown>): string | undefined {
  if (e.status !== 'ok') return undefined;
  try {
    return Buffer.from(encodeValue(e.value)).toString('base64');
  } catch {
    return undefined;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
