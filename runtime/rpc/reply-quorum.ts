/**
 * When an `all` or `majority` call is complete, from the replies its client has gathered: the
 * rule alone, with no timers, packets or promises, so it reads (and is tested) in one place.
 *
 * - `all`: every member of the view the request was ordered in answered or is known to have
 *   failed (a `failed` entry).
 * - `majority`: more than half of those members answered (`ok` or `error`); or so many failed
 *   that no majority can answer any more.
 *
 * @example
 * ```ts
 * const replies = new Map([['a', { member: 'a', status: 'ok', value: 1 } as const]]);
 * quorum('majority', ['a', 'b', 'c'], replies); // undefined: 1 of 3 answered, 2 needed
 * ```
 */
import type { ReplyEntry, ReplyMode } from './api.js';

/** A complete call: the members whose entries make its answer; or no majority can answer. */
export type Quorum = { members: readonly string[] } | { noMajority: { failed: number; of: number } };

/**
 * Whether a call of `mode` ordered among `members` is complete with `replies` (member → entry;
 * a member known to have left without answering has a `failed` entry). Undefined: not yet.
 */
export function quorum(
  mode: ReplyMode,
  members: readonly string[],
  replies: ReadonlyMap<string, ReplyEntry<unknown>>,
): Quorum | undefined {
  if ((mode !== 'all' && mode !== 'majority') || members.length === 0) return undefined;
  if (mode === 'all') return replies.size >= members.length ? { members } : undefined;
  // Every member known failed, not only those found in this check: members of the ordering view
  // that leave in separate view changes add up (counting only the newly found, a call that no
  // majority could answer any more waited for its deadline).
  let failed = 0;
  let answered = 0;
  for (const m of members) {
    const s = replies.get(m)?.status;
    if (s === 'failed') failed++;
    else if (s === 'ok' || s === 'error') answered++;
  }
  const need = Math.floor(members.length / 2) + 1;
  if (answered >= need) return { members: members.filter((m) => replies.has(m)) };
  if (members.length - failed < need) return { noMajority: { failed, of: members.length } };
  return undefined;
}
