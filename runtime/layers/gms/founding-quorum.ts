/**
 * Founding quorum accounting: what a majority of the seeds is, and whose votes count towards it.
 * Invariant: a vote counts only while the members of the view its voter remembers that no
 * co-founder or heard joiner accounts for are at most half of that view, so a primary that went
 * on from that view without it cannot run beside the group it helps found (FINDINGS 39, 48, 49).
 */
import { type MemberId, nodeOf } from '../../stack/member.js';
import type { LastView } from '../../stack/types.js';
import { isWildcard } from '../../transport/address.js';
import type { Joiner } from './joiner.js';
import type { GmsOptions } from './options.js';
import type { GmsShared } from './state.js';

/** Whether `address` is a seed's (both as IPs: the driver resolves seed names). */
export function isSeed(o: GmsOptions, address: string): boolean {
  return o.seeds.includes(address);
}

/** Members of `last` not accounted for: not its `self`, no process among `nodes`, no address
 * among `addresses` (a wildcard address accounts for no one). */
function unaccounted(last: LastView, nodes: ReadonlySet<string>, addresses: ReadonlySet<string>): number {
  let n = 0;
  last.members.forEach((m, i) => {
    if (m === last.self || nodes.has(nodeOf(m))) return;
    const a = last.addresses[i] ?? '';
    if (!isWildcard(a) && addresses.has(a)) return;
    n++;
  });
  return n;
}

export class FoundingQuorum {
  constructor(
    private readonly s: GmsShared,
    private readonly j: Joiner,
  ) {}

  /** A majority of the seeds: what founding a group takes. */
  needed(): number {
    return Math.floor(Math.max(1, this.s.o.seeds.length) / 2) + 1;
  }

  /** Whether the view we remember (if any) is accounted for by the members of `proposal`. */
  coveredBy(proposal: { members: readonly MemberId[]; addresses: readonly string[] }): boolean {
    const last = this.j.lastView;
    if (!last) return true;
    const nodes = new Set(proposal.members.map(nodeOf));
    const addresses = new Set(proposal.addresses.filter((a) => a !== '' && !isWildcard(a)));
    return unaccounted(last, nodes, addresses) * 2 <= last.members.length;
  }

  /** This member's own vote for itself counts if it is a seed (or none are configured): its
   * address, or one its transport also receives at (bound to the wildcard), is a seed's. */
  ownVote(): number {
    return this.counts() ? this.ownSeat() : 0;
  }

  /** 1 if this joiner is a seed (or none are configured), whether or not its vote counts. */
  private ownSeat(): number {
    const o = this.s.o;
    return o.seeds.length === 0 || [o.address, ...(o.aliases ?? [])].some((a) => isSeed(o, a)) ? 1 : 0;
  }

  /**
   * Whether the confirmed voters, and this founder, make a quorum of the seeds whose votes count.
   * A voter (or the founder) that remembers a last view counts only if the co-founders (the
   * founder and every confirmed voter: bound to this founding, none can be in a running group)
   * account for all but at most half of that view: a member heard Joining may be on its way
   * into the primary (FINDINGS 49), a co-founder may not.
   */
  confirmedBy(f: { confirmed: ReadonlySet<MemberId>; lasts: ReadonlyMap<MemberId, LastView> }): boolean {
    const nodes = new Set([this.s.self, ...f.confirmed].map(nodeOf));
    const heard = [...f.confirmed].map((m) => this.j.others.discovered.get(m)?.address ?? '');
    const addresses = new Set(
      [this.s.o.address, ...(this.s.o.aliases ?? []), ...heard].filter((a) => a !== '' && !isWildcard(a)),
    );
    const counts = (last: LastView | undefined) =>
      !last || unaccounted(last, nodes, addresses) * 2 <= last.members.length;
    let votes = counts(this.j.lastView) ? this.ownSeat() : 0;
    for (const m of f.confirmed) if (counts(f.lasts.get(m))) votes++;
    return votes >= this.needed();
  }

  /**
   * Whether this joiner's vote counts towards a founding quorum: always, unless this process
   * was in a view before (it stopped: its majority silent, excluded, or its lineage yielded).
   * A primary that went on from that view without us holds a strict majority of it, at least
   * up to its next view change, and its members are neither us nor joiners we hear (members do
   * not Join). So while the members of our last view we cannot account for are a strict
   * majority of it, such a primary may be running behind a partition, and our vote must not
   * help found a second group beside it (FINDINGS 39: a view shrunk to at most half the seeds
   * went on as a primary on one side while its stopped member founded with restarted seeds on
   * the other). We still vote, confirm and found with the others when their votes alone make
   * a quorum: then our state is offered too, and the group keeps the longest history. A member
   * is accounted for by its id in that view (ourselves), or by a joiner heard at its address or
   * from its process (a new incarnation of the same node): a view may list a wildcard address
   * (`0.0.0.0:7001`) that every replica bound alike shares. A crashed process remembers
   * nothing: this needs no persistence and covers members that stopped and came back in the
   * same process (FINDINGS 48, 49).
   */
  counts(): boolean {
    const last = this.j.lastView;
    if (!last) return true;
    const addresses = new Set<string>();
    const nodes = new Set<string>();
    for (const [m, d] of this.j.others.proven()) {
      if (!isWildcard(d.address)) addresses.add(d.address);
      nodes.add(nodeOf(m));
    }
    return unaccounted(last, nodes, addresses) * 2 <= last.members.length;
  }

  /** Whether this joiner hears a quorum of its seeds, itself included: else it cannot found. */
  hearsQuorum(): boolean {
    const own = [this.s.o.address, ...(this.s.o.aliases ?? [])];
    const heard = new Set<string>();
    // Not its own address: an earlier incarnation of this process is still remembered there.
    for (const [, d] of this.j.others.proven())
      if (isSeed(this.s.o, d.address) && !own.includes(d.address)) heard.add(d.address);
    return heard.size + this.ownVote() >= this.needed();
  }
}
