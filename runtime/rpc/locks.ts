/**
 * Replicated handler locks (RMP). Every replica keeps the same table because it changes only
 * when an ordered `acquire`/`release` is applied or a view is installed.
 *
 * - A lock nobody holds belongs to the rule-chosen member: the lowest rank of the view
 *   (`members[0]`).
 * - `acquire` by a member: it becomes the holder if the lock is free, else it queues.
 * - `release` by the holder: the lock passes to the first queued member still in the view,
 *   or becomes free.
 * - At a view change, departed members leave the queue, and a departed holder's lock passes
 *   on as if it had released it.
 *
 * A lock that moves does not stop the handler calls its earlier holder is running: the new
 * holder waits for them ({@link runByOthers}) before it runs a call of the lock or its `acquire`
 * resolves, so handlers of one lock never run at two members at once (unless one member's
 * history ended mid-run: a member cut off cannot be stopped, only left out of the group).
 */
import type { MemberId } from '../stack/member.js';
import { bad, str, strings } from './result.js';

interface LockState {
  holder: MemberId | undefined;
  queue: MemberId[];
}

/** What {@link runByOthers} reads of a pending handler call. */
export interface LockedCall {
  readonly id: string;
  readonly lock: string;
  readonly runner: MemberId;
}

/**
 * Whether a handler call of `lock` ordered before `before` (before every call when `before` is
 * undefined) is still pending at a runner other than `self`. `pending` is in order of
 * application, as the replica's pending calls are (and their snapshot keeps), so every replica
 * answers the same for the same applied prefix.
 */
export function runByOthers(
  pending: Iterable<LockedCall>,
  lock: string,
  self: MemberId,
  before?: string,
): boolean {
  for (const q of pending) {
    if (q.id === before) return false;
    if (q.lock === lock && q.runner !== self) return true;
  }
  return false;
}

export type LockTableState = [lock: string, holder: MemberId | null, queue: MemberId[]][];

export class LockTable {
  private locks = new Map<string, LockState>();

  /** The member that holds `lock` in a view with `members` (rank order). */
  holder(lock: string, members: readonly MemberId[]): MemberId | undefined {
    return this.locks.get(lock)?.holder ?? members[0];
  }

  /** Whether `member` explicitly holds `lock` (acquired it, not by the default rule). */
  holds(lock: string, member: MemberId): boolean {
    return this.locks.get(lock)?.holder === member;
  }

  acquire(lock: string, member: MemberId): void {
    const s = this.locks.get(lock) ?? { holder: undefined, queue: [] };
    this.locks.set(lock, s);
    if (s.holder === undefined) s.holder = member;
    else if (s.holder !== member && !s.queue.includes(member)) s.queue.push(member);
  }

  release(lock: string, member: MemberId, members: readonly MemberId[]): void {
    const s = this.locks.get(lock);
    if (!s) return;
    if (s.holder !== member) {
      // Releasing while still queued: withdraw the request.
      s.queue = s.queue.filter((m) => m !== member);
    } else this.passOn(lock, s, members);
  }

  /** Applies a new view's membership. */
  view(members: readonly MemberId[]): void {
    const present = new Set(members);
    for (const [lock, s] of this.locks) {
      s.queue = s.queue.filter((m) => present.has(m));
      if (s.holder !== undefined && !present.has(s.holder)) this.passOn(lock, s, members);
    }
  }

  private passOn(lock: string, s: LockState, members: readonly MemberId[]): void {
    const present = new Set(members);
    s.queue = s.queue.filter((m) => present.has(m));
    s.holder = s.queue.shift();
    if (s.holder === undefined && s.queue.length === 0) this.locks.delete(lock);
  }

  snapshot(): LockTableState {
    return [...this.locks].map(([lock, s]) => [lock, s.holder ?? null, [...s.queue]]);
  }

  /** Installs a {@link snapshot}, checked whole first: a malformed one throws `DecodeError` and changes nothing. */
  restore(state: unknown): void {
    if (!Array.isArray(state)) bad('lock table must be an array');
    const locks = new Map<string, LockState>();
    for (const entry of state as unknown[]) {
      if (!Array.isArray(entry) || entry.length !== 3) bad('lock entry must be [lock, holder, queue]');
      const [lock, holder, queue] = entry as unknown[];
      const name = str(lock, 'lock', 256);
      if (locks.has(name)) bad(`lock ${JSON.stringify(name)} appears twice`);
      locks.set(name, {
        holder: holder === null ? undefined : str(holder, 'lock holder', 64),
        queue: strings(queue, 'lock queue'),
      });
    }
    this.locks = locks;
  }
}
