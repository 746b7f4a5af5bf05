/**
 * The bootstrap vote, when no group answers: whom a joiner backs, when a candidate proposes
 * founding, and the two-phase proposal (Found, Confirm, the founding Install) as founder and as
 * voter. Invariant: a joiner backs one founder at a time, and a voter that confirmed is bound to
 * its founder until that group's view arrives or it gives up, so two founders cannot both gather
 * a majority of the seeds; a group starts with exactly a proposal every member of which
 * confirmed it.
 */
import { fnv1a } from '../../stack/hash.js';
import type { MemberId } from '../../stack/member.js';
import type { LastView } from '../../stack/types.js';
import { confirmHeader, foundHeader, type InstallHeader, installHeader } from './codec.js';
import { isSeed } from './founding-quorum.js';
import type { Joiner } from './joiner.js';
import type { GmsShared } from './state.js';

/**
 * The vote of a joiner that backs no one (it does not stand and hears no candidate): above every
 * member id, so it reads as stepped aside, never as a candidate.
 */
const ABSTAIN = '~';

/** Epoch of a group's first view. */
function foundingEpoch(founder: MemberId): number {
  // Founders differ, so two groups founded apart (a vote crossed a partition) get different
  // epochs and tell each other apart; flush epochs (≥ 4096) are above every founding one.
  return 1 + (fnv1a(founder) % 4095);
}

/** Expired proposals after which a candidate past its try steps aside (see FoundingVote.elect). */
const MAX_EXPIRED = 3;

export class FoundingVote {
  /** The founder this joiner backs (bootstrap vote); sticky while that joiner is heard from. */
  vote: MemberId | undefined;
  /** Since when this joiner has voted for itself without founding. */
  private candidateSince: number | undefined;
  /** Until when this joiner stands aside as a candidate (it could not gather a quorum). */
  private declinedUntil = 0;
  /** This candidacy's proposals that expired unconfirmed (see {@link elect}'s step aside). */
  private expired = 0;
  /** As founder: the voters asked, those that confirmed, and the last views they remember. */
  private founding:
    | {
        epoch: number;
        /** This proposal's number: a Confirm counts only for the proposal it answers. */
        pid: number;
        asked: MemberId[];
        confirmed: Set<MemberId>;
        lasts: Map<MemberId, LastView>;
        since: number;
      }
    | undefined;
  /** As voter: the founder we confirmed; bound to it until its view arrives or we give up. */
  private tentative:
    | { founder: MemberId; epoch: number; since: number; pid?: number; proposed?: readonly MemberId[] }
    | undefined;
  /** Proposals this process made as founder (numbers them). */
  private proposals = 0;

  constructor(
    private readonly s: GmsShared,
    private readonly j: Joiner,
  ) {}

  /**
   * Bootstrap when no group answers: every joiner votes for the lowest id it hears and keeps
   * that vote while the candidate is heard from; a candidate holding the votes of a majority of
   * the seeds founds the group with its voters. Each joiner backs one founder at a time, so two
   * founders cannot both gather a majority (two sides of a partition cannot both found a group).
   * Returns whether the joiner goes on sending its Joins this period (not when it stopped, nor
   * when it founded or proposed the confirmed part of its proposal).
   */
  tick(now: number): boolean {
    if (this.tentative) {
      // We confirmed a founder whose group never started: come back as a new member, since the
      // founder may have counted us (RMP: a member that may have been removed rejoins anew).
      // Unless a running group answered our Joins since: the founder's group may be admitting us,
      // its flush slowed by a failure. Giving up then removed a healthy member (session 22's
      // class D, seed 144300181). Waiting longer is safe: bound, we install only a view of the
      // founder's group (onInstall).
      const t = this.tentative;
      const giveUp = 2 * this.s.o.suspectMs;
      const heardMemberAt = this.j.word.heardMemberAt;
      const admitting = heardMemberAt !== undefined && heardMemberAt > t.since;
      if (now - t.since > (admitting ? giveUp + this.s.o.partitionMs : giveUp)) {
        this.s.layer.finish('partitioned', `the group ${this.tentative.founder} proposed never started`);
        return false;
      }
      return true;
    }
    // Past suspectMs a proposal is dropped, with or without a quorum (see `startFounded`).
    if (this.founding && now - this.founding.since > this.s.o.suspectMs) this.expireFounding(now);
    if (this.founding && this.j.quorum.confirmedBy(this.founding)) {
      // The grace tick: a quorum confirmed, not everyone asked. The founding view is exactly a
      // proposal every member of which confirmed it (and so remembers it): installing the
      // confirmed part of a wider proposal left voters that missed the Install remembering a
      // view whose members outside it co-founded a second group beside it (FINDINGS 64). So the
      // confirmed part is proposed anew, within the same founding time.
      const f = this.founding;
      if (f.confirmed.size === f.asked.length) this.startFounded();
      else this.found([...f.confirmed].sort(), f.since);
      return false;
    }
    if (!this.founding) this.elect(now);
    return true;
  }

  /** Whom to back this period, and, as a candidate, whether to propose founding or step aside. */
  private elect(now: number): void {
    const joiners = this.j.others;
    const word = this.j.word;
    const quorum = this.j.quorum;
    const giveUp = 2 * this.s.o.suspectMs;
    const expiry = 3 * this.s.o.suspectMs;
    joiners.forgetSilent(now);
    // Candidates: the joiners that have not stepped aside, and this one if it can found a group
    // (it hears a quorum of its seeds) and has not stepped aside. A joiner steps aside by voting
    // for a higher id than its own: no candidate does (the lowest it hears is never above it),
    // so the others pass over it alike. Without this, survivors of a lost majority that rejoin
    // with seed lists naming replicas since replaced all backed the lowest id, a survivor that
    // could never gather a quorum of its dead seeds: no group, ever (test/stack/gms-bootstrap-stuck).
    // Not an earlier incarnation of a process whose later one proved it receives at the same
    // address: that one is gone (one process is one member at a time), though its record lasts
    // 3 × suspectMs. The lower id, it held every vote while its successor stood: a bound voter
    // that gave up and rejoined stepped aside for want of them (RPC seed 425000012, FINDINGS 246).
    const live = [...joiners.proven()].filter(([m, d]) => !joiners.succeeded(m, d.address));
    const others = live.filter(([m, d]) => !(d.vote > m)).map(([m]) => m);
    const lowestOther = others.sort()[0];
    const standing = now >= this.declinedUntil && quorum.hearsQuorum();
    const lowest = (standing ? [this.s.self, ...others].sort()[0] : lowestOther) ?? ABSTAIN;
    // Stay with a candidate while it is heard and still a candidate (votes for itself): it may be
    // founding with our vote right now. Otherwise back the lowest candidate we know.
    const backed = this.vote === undefined ? undefined : joiners.discovered.get(this.vote);
    if (!backed?.proven || backed.vote !== this.vote || joiners.succeeded(this.vote!, backed.address)) {
      if (this.vote !== lowest)
        this.s.ctx.trace(
          () =>
            `vote ${lowest} (was ${this.vote ?? '-'}; standing ${standing}, counts ${quorum.counts()}, ` +
            `${joiners.discovered.size} joiners heard, member heard ${word.heardMemberAt !== undefined})`,
        );
      this.vote = lowest;
    }
    if (this.vote !== this.s.self) {
      this.candidateSince = undefined;
      this.expired = 0;
    }
    // A candidate that hears a running group's member does not found (below), and that time is
    // not its try: else it steps aside for want of votes it could not use (chaos seed 61).
    else if (word.deaf(now)) this.candidateSince = now;
    else this.candidateSince ??= now;
    word.forgetMember(now);
    // Only seeds vote a group into being: a joiner outside the seeds (a replica added later, one
    // whose only seed is a running member it has not heard yet) counting itself or others like it
    // would found a second group beside the one at the seeds.
    const voters = live
      .filter(([, d]) => d.vote === this.s.self && isSeed(this.s.o, d.address))
      .map(([m]) => m);
    const counting = voters.filter((m) => joiners.discovered.get(m)?.counts).length;
    // Past its try, a candidate whose proposals expired again and again steps aside even when
    // the votes it hears still make a quorum: the voters' own counts can make one that their
    // confirmations, judged against the co-founders it can ask (its seeds), never make, and it
    // proposed again every suspectMs for ever, each proposal keeping its voters bound (chaos seed
    // 3514, FINDINGS 198). One expiry is a lost message, and the next proposal often founds.
    const overdue = this.vote === this.s.self && now - this.candidateSince! > this.s.o.bootstrapMs + giveUp;
    if (
      !(overdue && this.expired >= MAX_EXPIRED) &&
      !word.deaf(now) &&
      this.vote === this.s.self &&
      now - this.j.joinStartedAt >= this.s.o.bootstrapMs &&
      // A candidate since a round of Joins at least: joiners that moved their votes to it
      // together (a candidate before it stepped aside) are all heard, and all found the group
      // (each offers its state to the re-founding), rather than the first to answer alone.
      now - this.candidateSince! >= 2 * this.s.o.joinRetryMs &&
      counting + quorum.ownVote() >= quorum.needed()
    )
      this.found(voters.sort());
    else if (overdue) {
      // A candidate that hears a quorum of its seeds and still gets no quorum of votes (links
      // that work one way only, seed lists under which only another joiner can found) would
      // hold the votes of every joiner that backs it: it steps aside for long enough that the
      // next candidate gets as long a try. Also when no other stands now: one that stepped
      // aside before stands again when its time is up, and the votes must be free for it, not
      // held by a candidate that can never found (chaos seed 61, FINDINGS 54).
      this.declinedUntil = now + 2 * (this.s.o.bootstrapMs + giveUp) + expiry;
      this.candidateSince = undefined;
      this.expired = 0;
      this.vote = lowestOther ?? ABSTAIN;
      this.s.ctx.trace(() => `step aside as founder: no quorum of votes; back ${this.vote}`);
    }
  }

  /**
   * Founding is two-phase: a vote can cross a partition and expire, so the founder counts only
   * voters that confirm, and a confirmed voter backs nobody else. A group therefore starts with a
   * majority of the seeds that all know it, and no voter is in two founding views.
   */
  private found(voters: MemberId[], since = this.s.ctx.now()): void {
    const epoch = foundingEpoch(this.s.self);
    const pid = ++this.proposals;
    this.founding = { epoch, pid, asked: voters, confirmed: new Set(), lasts: new Map(), since };
    this.s.ctx.trace(() => `propose founding to ${voters.join(',')}`);
    const proposal = {
      members: [this.s.self, ...voters],
      addresses: [this.s.o.address, ...voters.map((m) => this.j.others.discovered.get(m)?.address ?? '')],
    };
    const found = foundHeader.encode({ epoch, proposal, pid });
    for (const m of voters) this.s.send(m, found);
  }

  onFound(from: MemberId, h: unknown[]): void {
    const { epoch, proposal, pid } = foundHeader.decode(h);
    if (this.s.state !== 'joining' || this.founding || this.vote !== from) return;
    const t = this.tentative;
    if (t && t.founder !== from) return;
    // A member of a running group answered us: we join that group and found none.
    if (!t && this.j.word.deaf(this.s.ctx.now())) return;
    // Bound to this founder already: an older proposal's Found (late) is not answered; a newer
    // one (the founder proposed again: the confirmed part of its last, or after it expired) is
    // what we may be counted in now, so it is what we remember (FINDINGS 64).
    const newer = t !== undefined && pid !== undefined && (t.pid === undefined || pid > t.pid);
    if (t && pid !== undefined && t.pid !== undefined && pid < t.pid) return;
    if ((!t || newer) && proposal?.members.includes(this.s.self) && this.j.quorum.coveredBy(proposal)) {
      // From our Confirm on the founder may count us in this view, installed or not: remember it
      // as a view we may be in (before the Confirm leaves: the core saves it first), so that
      // giving up on this founding, or a crash, does not let us help found a second group beside
      // the one the founder and the others go on with (FINDINGS 59). One view is remembered:
      // the proposal replaces the last view only if its members account for all but at most
      // half of that view (as co-founders would), else a primary of the last view may run
      // elsewhere and that memory is the one to keep (a joiner merely heard does not count:
      // FINDINGS 49, founding-variants.ts joinP).
      this.s.ctx.passUp({ type: 'bound', view: { ...proposal, self: this.s.self } });
    }
    if (!t || newer)
      this.tentative = {
        founder: from,
        epoch,
        // The give-up bound runs from the latest proposal's Found: the founder installs within
        // suspectMs of its founding's first proposal, so its Install reaches us before we give up.
        since: this.s.ctx.now(),
        ...(pid !== undefined ? { pid } : {}),
        ...(proposal ? { proposed: proposal.members } : {}),
      };
    const last = this.j.lastView;
    this.s.send(
      from,
      confirmHeader.encode({ epoch, ...(last ? { last } : {}), ...(pid !== undefined ? { pid } : {}) }),
    );
  }

  onConfirm(from: MemberId, h: unknown[]): void {
    const { epoch, last, pid } = confirmHeader.decode(h);
    const f = this.founding;
    if (this.s.state !== 'joining' || !f || epoch !== f.epoch || !f.asked.includes(from)) return;
    // A Confirm of an earlier proposal (late) says nothing of this one (FINDINGS 64).
    if (pid !== undefined && pid !== f.pid) return;
    f.confirmed.add(from);
    if (last) f.lasts.set(from, last);
    // With a quorum, wait for the rest until the next join tick: starting with everyone spares
    // the latecomers a join (and a state transfer) right after.
    if (f.confirmed.size === f.asked.length && this.j.quorum.confirmedBy(f)) this.startFounded();
  }

  /** Whether this joiner confirmed a founder whose view has not arrived yet. */
  get bound(): boolean {
    return this.tentative !== undefined;
  }

  /**
   * Whether an Install from `from` listing `members` is of the group of the founder we are bound
   * to: else the founder may count us in a group we are not in. A view that has the founder
   * among its members is of its group, whoever installs it: the founder's promise of it, adopted
   * by the next coordinator when the founder failed mid-flush, comes from that coordinator;
   * refusing it left us in a view we never installed, its survivors a minority of it (RPC seed
   * 33003640, test/sim/FINDINGS.md item 57). Also a view without the founder (crashed since) but
   * with another member of its proposal: that member's incarnation was asked into the founder's
   * group, so the view is of that group, and refusing it left us in a view we never installed
   * (RPC seed 37002565, FINDINGS 61).
   */
  ofFoundersGroup(from: MemberId, members: readonly MemberId[]): boolean {
    const t = this.tentative!;
    const ofFounder = (x: MemberId) => x === t.founder || (x !== this.s.self && t.proposed?.includes(x));
    return from === t.founder || members.some(ofFounder);
  }

  private expireFounding(now: number): void {
    const since = this.founding?.since ?? now;
    this.founding = undefined;
    this.expired++;
    this.s.ctx.trace(() => `founding proposal expired: ${Math.round(now - since)} ms old`);
  }

  /** Installs the founding view, unless the proposal is stale (then drops it). */
  private startFounded(): void {
    const f = this.founding!;
    // A voter that confirmed gives up 2 × suspectMs after our Found reached it and rejoins as a
    // new incarnation. A founder that stopped for longer (RPC seed 900035: 2.5 s) and then
    // installs with the confirmations it drained would found a group of incarnations that are
    // gone, and that lineage, the later epoch, made the live group yield to it. Installed within
    // suspectMs of the proposal, the install reaches every voter before it gives up.
    const now = this.s.ctx.now();
    if (now - f.since > this.s.o.suspectMs) {
      this.expireFounding(now);
      return;
    }
    const epoch = f.epoch;
    const voters = [...f.confirmed].sort();
    const members = [this.s.self, ...voters];
    const addresses = [
      this.s.o.address,
      ...voters.map((m) => this.j.others.discovered.get(m)?.address ?? ''),
    ];
    this.founding = undefined;
    this.s.ctx.trace(() => `found the group with ${members.join(',')}`);
    const m: InstallHeader = {
      newViewId: 1,
      attempt: 1,
      members,
      addresses,
      joined: members,
      left: [],
      failed: [],
      nakNext: [],
      epoch,
    };
    const install = installHeader.encode(m);
    this.s.layer.install(
      1,
      epoch,
      members,
      addresses,
      { previousId: undefined, joined: members, left: [], failed: [] },
      [],
    );
    this.s.installed = m;
    for (const v of voters) this.s.send(v, install);
  }
}
