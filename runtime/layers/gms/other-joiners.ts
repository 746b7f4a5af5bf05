/**
 * The other joiners a joiner hears while no group answers, with their votes: whom the founding
 * vote backs, counts and asks. Invariant: only a record whose sender echoed our challenge to its
 * address (it receives there) is backed, counted or asked, and it changes only by Joins that
 * prove it again (FINDINGS 159); the table holds at most `maxJoiners`, and a forger's invented
 * ids cannot push a seed out of it (FINDINGS 160).
 */
import { endpointOf, type MemberId, nodeOf } from '../../stack/member.js';
import { isWildcard } from '../../transport/address.js';
import { isSeed } from './founding-quorum.js';
import type { GmsShared } from './state.js';

/** Another joiner heard while no group answers. */
export interface Heard {
  /** Where its Joins come from. */
  address: string;
  /** When last heard (by a Join that proves it, once it has proven its address): the recent
   * challenges of the most recently heard are echoed first. */
  at: number;
  /** Whom it votes for, and whether that vote counts (see `FoundingQuorum.counts`). */
  vote: string;
  counts: boolean;
  /**
   * Whether it echoed the challenge we send to its address this attempt: it receives there. Until
   * then it is only answered (sent our Joins), never backed, counted or asked to found: a Join
   * from an address where no one receives, in any id, is a forger's (FINDINGS 159).
   */
  proven: boolean;
  /**
   * The challenge of its latest Join that proved it: our Joins to its address echo it first, so
   * Joins forged in other ids from that address, each with a challenge of its own, cannot crowd
   * it out of our echoes.
   */
  trusted: string | undefined;
  /** The challenges of its latest Joins while unproven, newest first (at most 2). */
  recent: string[];
  /** When we last answered a new challenge of its at once (see `Joiner.onJoin`). */
  answeredAt: number;
}

export class OtherJoiners {
  /** Other joiners heard while no group answers (only the proven ones count: see {@link Heard}). */
  readonly discovered = new Map<MemberId, Heard>();

  constructor(private readonly s: GmsShared) {}

  /** The joiners heard that proved their address: the only ones backed, counted or asked. */
  *proven(): Iterable<[MemberId, Heard]> {
    for (const e of this.discovered) if (e[1].proven) yield e;
  }

  /** The joiners recorded at `address`. */
  at(address: string): Heard[] {
    return [...this.discovered.values()].filter((d) => d.address === address);
  }

  /** Forgets the joiners not heard for `3 × suspectMs`. */
  forgetSilent(now: number): void {
    const expiry = 3 * this.s.o.suspectMs;
    for (const [m, d] of this.discovered) if (now - d.at > expiry) this.discovered.delete(m);
  }

  /** Whether a later incarnation of `member`'s process proved, by a Join, that it receives at
   * `address` (a wildcard or empty address proves nothing). */
  succeeded(member: MemberId, address: string): boolean {
    if (address === '' || isWildcard(address)) return false;
    const node = nodeOf(member);
    const inc = endpointOf(member).inc;
    for (const [m, d] of this.proven())
      if (d.address === address && nodeOf(m) === node && endpointOf(m).inc > inc) return true;
    return false;
  }

  /**
   * Makes room in a full table of joiners for a Join from `address`; false when there is none for
   * it. Any Join takes an unproven non-seed's place: a forger's invented ids fill the table and
   * none proves itself, while a real joiner proves itself one round trip after it is recorded
   * (it is answered at once). A seed's Join, or one that proves its sender, also takes an unproven
   * seed address's place, and a seed's a proven non-seed's: only seeds vote a group into being,
   * and 64 invented ids at other addresses, each joining every 3 × suspectMs, filled the table and
   * no seed ever heard another (FINDINGS 160).
   */
  evictFor(address: string, proves: boolean): boolean {
    const o = this.s.o;
    const seed = isSeed(o, address);
    const victim =
      this.oldest((d) => !d.proven && !isSeed(o, d.address)) ??
      (seed || proves ? this.oldest((d) => !d.proven) : undefined) ??
      (seed ? this.oldest((d) => !isSeed(o, d.address)) : undefined);
    if (victim === undefined) return false;
    this.discovered.delete(victim);
    return true;
  }

  /** The joiner heard longest ago among those `pick` chooses. */
  private oldest(pick: (d: Heard) => boolean): MemberId | undefined {
    let found: [MemberId, number] | undefined;
    for (const [m, d] of this.discovered)
      if (pick(d) && (found === undefined || d.at < found[1])) found = [m, d.at];
    return found?.[0];
  }
}
