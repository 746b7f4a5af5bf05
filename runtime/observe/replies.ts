/**
 * Whether the members' answers to one ordered request differ: replicas that applied the same
 * requests in the same order must return the same value (or throw the same error), so a
 * difference means their states diverged or the method is nondeterministic.
 */
import type { ReplyEntry } from '../rpc/api.js';
import { encodeValue } from '../rpc/codec.js';

/** True when two answering members (ok or error) disagree; failed and timed-out entries are ignored. */
export function repliesDiffer(entries: readonly ReplyEntry<unknown>[]): boolean {
  let first: string | undefined;
  for (const e of entries) {
    let key: string;
    if (e.status === 'ok') {
      try {
        key = `ok:${Buffer.from(encodeValue(e.value)).toString('base64')}`;
      } catch {
        continue;
      }
    } else if (e.status === 'error') key = `error:${e.error.code}:${e.error.message}`;
    else continue;
    if (first === undefined) first = key;
    else if (key !== first) return true;
  }
  return false;
}
