/**
 * A running group's word to a joiner (a Here, a Lineage beacon), and whether it keeps the joiner
 * from founding or confirming a founder (it is "deaf" to founding): then it joins that group.
 * Invariant: word holds founding back for `3 × suspectMs`, unless every word heard in that time
 * is lifted by later incarnations that proved their addresses (FINDINGS 229, 245); an address
 * that never answers our Joins' challenge holds it back once, for `2 × suspectMs` (FINDINGS 120).
 */
import type { MemberId } from '../../stack/member.js';
import type { OtherJoiners } from './other-joiners.js';
import type { GmsShared } from './state.js';

export class GroupWord {
  /** When a member of an existing group last answered us: then we join it, never found one
   * (unless every word of it since `3 × suspectMs` is lifted: see {@link deaf}). */
  heardMemberAt: number | undefined;
  /**
   * The latest credited word of a running group from each address (see {@link credit}): when,
   * who sent it (a Here's sender; none for a Lineage beacon) and the coordinator it named, with
   * that coordinator's address. Per join attempt, bounded like `claims`.
   */
  private readonly word = new Map<
    string,
    { at: number; sender: MemberId | undefined; coordinator: MemberId; coordinatorAt: string }
  >();
  /** When the latest word that fell out of {@link word} past its bound was heard: such word is
   * never lifted. */
  private wordDroppedAt = Number.NEGATIVE_INFINITY;
  /**
   * Addresses that told us a group exists (a Here, a Lineage beacon): when first heard, and when
   * one last answered a Join of ours with its challenge (see {@link credit}). Per join attempt;
   * at most `maxJoiners`, beyond which only proven ones are kept.
   */
  private readonly claims = new Map<string, { firstAt: number; provenAt: number | undefined }>();

  constructor(
    private readonly s: GmsShared,
    private readonly others: OtherJoiners,
  ) {}

  /** A new join attempt: no address has said a word in it yet. */
  restart(): void {
    this.claims.clear();
    this.word.clear();
    this.wordDroppedAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Word of a running group from `address` (`proven`: it echoed our challenge there): sent by
   * `sender` (none for a beacon), naming `coordinator` at `coordinatorAt`. Whether it is credited
   * (see {@link credit}); if so it is recorded, and a member has answered us now.
   */
  hear(
    address: string,
    proven: boolean,
    sender: MemberId | undefined,
    coordinator: MemberId,
    coordinatorAt: string,
  ): boolean {
    if (!this.credit(address, proven)) return false;
    const now = this.s.ctx.now();
    this.heardMemberAt = now;
    this.word.delete(address);
    this.word.set(address, { at: now, sender, coordinator, coordinatorAt });
    if (this.word.size > this.s.o.maxJoiners) {
      const [oldest, w] = this.word.entries().next().value!;
      this.wordDroppedAt = Math.max(this.wordDroppedAt, w.at);
      this.word.delete(oldest);
    }
    return true;
  }

  /** Forgets that a member answered us, once that is over `3 × suspectMs` ago. */
  forgetMember(now: number): void {
    if (this.heardMemberAt !== undefined && now - this.heardMemberAt > 3 * this.s.o.suspectMs)
      this.heardMemberAt = undefined;
  }

  /**
   * Whether a running group's word keeps us from founding and from confirming a founder now:
   * a member answered us within `3 × suspectMs` (`heardMemberAt`), unless every word heard
   * within that time is **lifted** and one is. Word from `address` is lifted when a later
   * incarnation of its sender's process has since proved, by a Join, that it receives at that
   * same address, and so has one of the coordinator its Here named, at the address it named
   * (for a sender that named itself, the same proof): that process no longer speaks for a
   * group, and the coordinator it told us of no longer runs the one it spoke for.
   *
   * Without this, after a blackout that spared one member, the restarted processes heard that
   * member answer as a member of its old view until its majority-silence rule stopped it, and
   * then ignored its next incarnation's founding proposals for `3 × suspectMs` after its last
   * Here: each proposal expired, it stepped aside, and the group re-formed 4-5 s late
   * (FINDINGS 229). With two survivors, the other's Heres named the coordinator, and its word
   * held founding back as long (RPC seed 425000012, FINDINGS 245). What the window guards still
   * holds. A group that went on without those members answers our Joins itself (its
   * coordinator, at a seed or at the hint, in its own ids: never lifted). The lift brings
   * forward what the founding rules allow `3 × suspectMs` later and changes no quorum: that
   * later incarnation remembers the view its earlier one was in (a member restarted in its
   * process keeps it, FINDINGS 48), so a primary of that view that went on without it leaves
   * its vote uncounted, then as now. Nobody else can lift a word: the proof is a round trip at
   * the member's address (FINDINGS 166), and under a key nobody else speaks in its process's
   * ids. Word past the bound of {@link word} is never lifted.
   */
  deaf(now: number): boolean {
    const expiry = 3 * this.s.o.suspectMs;
    // The window ends 3 × suspectMs after the latest word, not at the next join tick (the timer
    // forgets `heardMemberAt` only then): a Found that came between was ignored, and a third
    // proposal expired unconfirmed for it (RPC seed 425000012, FINDINGS 245).
    if (this.heardMemberAt === undefined || now - this.heardMemberAt > expiry) return false;
    if (now - this.wordDroppedAt <= expiry) return true;
    let lifted = false;
    for (const [address, w] of this.word) {
      if (now - w.at > expiry) continue;
      if (!this.lifted(address, w)) return true;
      lifted = true;
    }
    return !lifted;
  }

  /**
   * Whether word from `address` is lifted (see {@link deaf}): its sender and the coordinator it
   * named each have a later incarnation of their process that proved it receives at their
   * address (the sender's at `address`; for one that named itself, that is one proof).
   */
  private lifted(
    address: string,
    w: { sender: MemberId | undefined; coordinator: MemberId; coordinatorAt: string },
  ): boolean {
    if (w.sender === undefined || !this.others.succeeded(w.sender, address)) return false;
    return w.coordinator === w.sender || this.others.succeeded(w.coordinator, w.coordinatorAt);
  }

  /**
   * Whether word of a group from `address` keeps us from founding now. An address that answered a
   * Join of ours with its challenge (`proven`) is credited for `3 × suspectMs` after; one that has
   * not is credited for `2 × suspectMs` from when it was first heard, time enough for the Joins
   * we now send to the coordinator it names to be answered. A group that exists answers them;
   * a host that only sends a `Here` or a `Lineage` in its own name every `3 × suspectMs` (one
   * datagram, no key needed) kept a keyless group from ever founding (FINDINGS 120), and now
   * delays it once per address, at most `maxJoiners` addresses.
   */
  private credit(address: string, proven: boolean): boolean {
    const now = this.s.ctx.now();
    let c = this.claims.get(address);
    if (!c) {
      if (this.claims.size >= this.s.o.maxJoiners) {
        const stale = [...this.claims].find(([, x]) => x.provenAt === undefined);
        if (!proven || !stale) {
          this.s.c.claimsUnproven++;
          return false;
        }
        this.claims.delete(stale[0]);
      }
      c = { firstAt: now, provenAt: undefined };
      this.claims.set(address, c);
    }
    if (proven) c.provenAt = now;
    const o = this.s.o;
    if (c.provenAt !== undefined && now - c.provenAt <= 3 * o.suspectMs) return true;
    if (now - c.firstAt < 2 * o.suspectMs) return true;
    this.s.c.claimsUnproven++;
    this.s.ctx.trace(() => `a group claimed at ${address} never answered our Joins: founding not held back`);
    return false;
  }
}
