/**
 * This member's own `acquire(lock)` calls while they wait (`Replica.acquire`): each is an
 * ordered `acquire` cast, and settles when that cast is applied and this member then holds the
 * lock exclusively, or ends with `LOCK_INTERRUPTED` when the incarnation that cast it ended. The
 * replicated side (who holds what) is the {@link LockTable}; this is the member-local side.
 */
import { TroupeError } from '../errors.js';
import type { GroupHandle } from '../group/types.js';
import type { MemberId } from '../stack/member.js';
import { encodeGroupMsg } from './messages.js';
import { DEFAULT_CALL_QOS } from './qos.js';

/** An `acquire()` waiting for its lock. */
interface LockWaiter {
  readonly lock: string;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  /** Its cast was applied (this incarnation's next applied acquire of the lock is its oldest waiter's). */
  applied: boolean;
  /** The incarnation that cast it; undefined: not cast yet (made while cut off). */
  member: MemberId | undefined;
}

export class LockWaiters {
  /**
   * Per lock, oldest first. An incarnation's casts are applied in the order it cast them, so its
   * next applied acquire of a lock belongs to its oldest waiter not yet applied.
   */
  private readonly waiting = new Map<string, LockWaiter[]>();

  /**
   * A new waiter for `lock`, cast at once as `group`'s member unless `castLater` (cut off and
   * not back yet: its cast would name the incarnation that ended, which its stack drops, and
   * nothing would settle it; {@link castDeferred} casts it as the next incarnation).
   */
  add(lock: string, group: GroupHandle, castLater: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      // Waiting before the cast: a sequencer alone in its view applies its own cast at once.
      const waiter: LockWaiter = { lock, resolve, reject, applied: false, member: undefined };
      const list = this.waiting.get(lock) ?? [];
      list.push(waiter);
      this.waiting.set(lock, list);
      if (!castLater) this.cast(group, waiter);
    });
  }

  /** Acquires made while cut off: cast now, as this incarnation. */
  castDeferred(group: GroupHandle): void {
    for (const list of [...this.waiting.values()])
      for (const w of [...list]) if (w.member === undefined) this.cast(group, w);
  }

  /** An `acquire` of `lock` cast by `member` (this member) was applied: its oldest waiter's. */
  applied(lock: string, member: MemberId): void {
    const mine = this.waiting.get(lock)?.find((w) => !w.applied && w.member === member);
    if (mine) mine.applied = true;
  }

  /**
   * After the lock table changed: waiters whose acquire was applied settle once `self` holds their
   * lock exclusively (`held`), and those cast by an earlier incarnation than `self` end.
   */
  wake(self: MemberId, held: (lock: string) => boolean): void {
    for (const [lock, list] of this.waiting) {
      // Cast by an incarnation that ended: its acquire names a member gone from every later view.
      const stale = list.filter((w) => w.member !== undefined && w.member !== self);
      const ready = held(lock) ? list.filter((w) => w.applied && w.member === self) : [];
      if (stale.length === 0 && ready.length === 0) continue;
      const rest = list.filter((w) => !stale.includes(w) && !ready.includes(w));
      if (rest.length === 0) this.waiting.delete(lock);
      else this.waiting.set(lock, rest);
      for (const w of stale)
        w.reject(
          new TroupeError('LOCK_INTERRUPTED', `acquire of lock '${lock}': cast by ${w.member}, now ${self}`),
        );
      for (const w of ready) w.resolve();
    }
  }

  /** Every waiter ends: its member's history ended (it never held the lock as itself). */
  interrupt(why: string): void {
    for (const [lock, list] of this.waiting)
      for (const w of list)
        w.reject(new TroupeError('LOCK_INTERRUPTED', `acquire of lock '${lock}': ${why}`));
    this.waiting.clear();
  }

  private cast(group: GroupHandle, w: LockWaiter): void {
    w.member = group.self;
    try {
      // Majority, as calls and fences: a holder acts on its lock, so an acquire applied anywhere
      // must be in every later view's order (a sequencer cut off alone applied its own at once).
      group.cast(encodeGroupMsg({ kind: 'acquire', lock: w.lock, member: w.member }), DEFAULT_CALL_QOS);
    } catch (e) {
      // Never cast (a closed group, a lock name over maxMessage): it must not take the mark of
      // a later acquire.
      const list = this.waiting.get(w.lock) ?? [];
      list.splice(list.indexOf(w), 1);
      if (list.length === 0) this.waiting.delete(w.lock);
      w.reject(e as Error);
    }
  }
}
