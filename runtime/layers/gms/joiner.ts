import { fnv1a } from '../../stack/hash.js';
import type { MemberId } from '../../stack/member.js';
import type { LastView } from '../../stack/types.js';
import { isWildcard } from '../../transport/address.js';
import {
  confirmHeader,
  foundHeader,
  hereHeader,
  type InstallHeader,
  installHeader,
  JOIN_ECHOES,
  joinHeader,
} from './codec.js';
import { FoundingQuorum, isSeed } from './founding-quorum.js';
import { GroupWord } from './group-word.js';
import { JoinChallenges } from './join-challenges.js';
import { JoinPins } from './join-pins.js';
import { type Heard, OtherJoiners } from './other-joiners.js';
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

/** Expired proposals after which a candidate past its try steps aside (see Joiner.timer). */
const MAX_EXPIRED = 3;

/**
 * The joiner role (JGroups' client): a member not in a view yet. It looks for the group
 * (Join to the seeds and a beacon, retried), follows a member's Here to the coordinator, takes
 * the view that admits it, and when no group answers runs the two-phase bootstrap vote.
 */
export class Joiner {
  /** Other joiners heard while no group answers, and their votes. */
  readonly others: OtherJoiners;
  /** Whose votes count towards founding, and how many it takes. */
  readonly quorum: FoundingQuorum;
  /** Our Joins' challenges and the budget of immediate answers to others'. */
  readonly challenges: JoinChallenges;
  /** Where each sender proved it receives. */
  readonly pins: JoinPins;
  /** A running group's word, and whether it keeps us from founding. */
  readonly word: GroupWord;
  /** The founder this joiner backs (bootstrap vote); sticky while that joiner is heard from. */
  private vote: MemberId | undefined;
  /** Since when this joiner has voted for itself without founding. */
  private candidateSince: number | undefined;
  /** Until when this joiner stands aside as a candidate (it could not gather a quorum). */
  private declinedUntil = 0;
  /** This candidacy's proposals that expired unconfirmed (see {@link timer}'s step aside). */
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
  private coordinatorHint: string | undefined;
  /** The nonce of the latest coordinator's Here ('' before one): proves our address. */
  private nonce = '';
  /**
   * com verifies packets under a group key (set by the first authenticated discovery packet):
   * no one without the key speaks in any id, so every Here or Join pins its sender where it
   * first came from, and an Install is taken from any sender, as before pins (FINDINGS 215).
   */
  keyed = false;
  /** When this join attempt started: our challenges are keyed by it. */
  joinStartedAt = 0;
  /** The view this process was last in (a previous incarnation), if any. */
  lastView: LastView | undefined;
  /**
   * A damped rejoin: until then no running group is asked to admit us (our Joins carry no
   * nonce, and a coordinator records only a Join that echoes its nonce). Finding the group and
   * the founding vote go on: a member that lost its majority waits out its damping only to be
   * admitted again, never to help re-found a group whose survivors need its vote (chaos seed
   * 202: three of five replicas live and the group down for 31 s behind one survivor's wait).
   */
  private admitAfter = Number.NEGATIVE_INFINITY;

  constructor(private readonly s: GmsShared) {
    this.others = new OtherJoiners(s);
    this.quorum = new FoundingQuorum(s, this);
    this.challenges = new JoinChallenges(s, this);
    this.pins = new JoinPins(s, this);
    this.word = new GroupWord(s, this.others);
  }

  start(lastView?: LastView, admitAfter?: number): void {
    if (this.s.state !== 'idle') return;
    if (lastView && lastView.members.length > 0) this.lastView = lastView;
    if (admitAfter !== undefined) this.admitAfter = admitAfter;
    this.s.state = 'joining';
    this.joinStartedAt = this.s.ctx.now();
    this.word.restart();
    this.challenges.restart();
    this.pins.restart();
    this.sendJoin();
    this.s.ctx.setTimer('join', this.s.o.joinRetryMs);
  }

  private sendJoin(): void {
    const targets = new Set(this.s.o.seedNames ?? this.s.o.seeds);
    if (this.coordinatorHint) targets.add(this.coordinatorHint);
    // And every joiner heard from that proved its address: seed lists differ (a replica started
    // later lists the replicas of its day), so a joiner may hear one that never hears it; each
    // must know the other's vote for either to found with the other. Bounded by maxJoiners (see
    // onJoin). An unproven one is answered per Join it sends instead (onJoin): one Join from a
    // forger's address drew our Joins there for 3 × suspectMs (FINDINGS 234).
    for (const d of this.others.discovered.values()) if (d.proven || this.keyed) targets.add(d.address);
    // And the members of the view this process was last in: where it runs on, the group may be
    // found there when every seed was replaced at a new address (a seed list is the operator's,
    // written once; the view is what the group became). Bounded like the joiners heard.
    if (this.lastView)
      for (const a of this.lastView.addresses.slice(0, this.s.o.maxJoiners))
        if (a !== this.s.o.address && !isWildcard(a)) targets.add(a);
    const fields = this.joinFields();
    const byAddress = new Map<string, Heard[]>();
    for (const d of this.others.discovered.values()) {
      const at = byAddress.get(d.address);
      if (at) at.push(d);
      else byAddress.set(d.address, [d]);
    }
    for (const a of targets) this.joinTo(a, fields, byAddress.get(a) ?? []);
    // And a beacon to whoever listens: reaches every member where the transport has IP multicast
    // (a fan-out transport has no peers before a view, so this costs nothing there).
    this.joinTo(null, fields, []);
  }

  /** What every Join of this moment says of this joiner, whatever the address it goes to. */
  private joinFields(): { vote: string; nonce: string; counts: boolean; origin?: number } {
    const origin = this.s.castNext();
    return {
      vote: this.vote ?? '',
      nonce: this.echoed(),
      counts: this.quorum.counts(),
      ...(origin !== undefined ? { origin } : {}),
    };
  }

  /** One Join to `address` alone (an answer), from the records there now. */
  private answerAt(address: string, first?: string): void {
    const here = this.others.at(address);
    this.joinTo(address, this.joinFields(), here, first);
  }

  /**
   * One Join to `address` (null: the beacon), with our challenge for it and the echoes it is
   * owed: `first`, then the trusted challenges of `here` (the joiners recorded there), then their
   * recent ones, the most recently heard first. The beacon carries neither: whoever hears it may
   * be anywhere, and no echo of a beacon's challenge could prove an address.
   */
  private joinTo(
    address: string | null,
    fields: { vote: string; nonce: string; counts: boolean; origin?: number },
    here: Heard[],
    first?: string,
  ): void {
    const echo: string[] = [];
    if (address !== null) {
      if (first !== undefined) echo.push(first);
      for (const d of here) if (d.trusted !== undefined) echo.push(d.trusted);
      for (const d of [...here].sort((a, b) => b.at - a.at)) echo.push(...d.recent);
    }
    this.s.probe(
      address,
      joinHeader.encode({
        ...fields,
        challenge: address === null ? '' : this.challenges.challengeTo(address),
        echo: [...new Set(echo)].slice(0, JOIN_ECHOES),
      }),
    );
  }

  /**
   * Bootstrap when no group answers: every joiner votes for the lowest id it hears and keeps
   * that vote while the candidate is heard from; a candidate holding the votes of a majority of
   * the seeds founds the group with its voters. Each joiner backs one founder at a time, so two
   * founders cannot both gather a majority (two sides of a partition cannot both found a group).
   */
  timer(): void {
    if (this.s.state !== 'joining') return;
    const now = this.s.ctx.now();
    this.s.ctx.setTimer('join', this.s.o.joinRetryMs);
    this.challenges.renew();
    const giveUp = 2 * this.s.o.suspectMs;
    if (this.tentative) {
      // We confirmed a founder whose group never started: come back as a new member, since the
      // founder may have counted us (RMP: a member that may have been removed rejoins anew).
      // Unless a running group answered our Joins since: the founder's group may be admitting us,
      // its flush slowed by a failure. Giving up then removed a healthy member (session 22's
      // class D, seed 144300181). Waiting longer is safe: bound, we install only a view of the
      // founder's group (onInstall).
      const t = this.tentative;
      const admitting = this.word.heardMemberAt !== undefined && this.word.heardMemberAt > t.since;
      if (now - t.since > (admitting ? giveUp + this.s.o.partitionMs : giveUp)) {
        this.s.layer.finish('partitioned', `the group ${this.tentative.founder} proposed never started`);
        return;
      }
      this.sendJoin();
      return;
    }
    // Past suspectMs a proposal is dropped, with or without a quorum (see `startFounded`).
    if (this.founding && now - this.founding.since > this.s.o.suspectMs) this.expireFounding(now);
    if (this.founding && this.quorum.confirmedBy(this.founding)) {
      // The grace tick: a quorum confirmed, not everyone asked. The founding view is exactly a
      // proposal every member of which confirmed it (and so remembers it): installing the
      // confirmed part of a wider proposal left voters that missed the Install remembering a
      // view whose members outside it co-founded a second group beside it (FINDINGS 64). So the
      // confirmed part is proposed anew, within the same founding time.
      const f = this.founding;
      if (f.confirmed.size === f.asked.length) this.startFounded();
      else this.found([...f.confirmed].sort(), f.since);
      return;
    }
    if (this.founding) {
      this.sendJoin();
      return;
    }
    const expiry = 3 * this.s.o.suspectMs;
    this.others.forgetSilent(now);
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
    const live = [...this.others.proven()].filter(([m, d]) => !this.others.succeeded(m, d.address));
    const others = live.filter(([m, d]) => !(d.vote > m)).map(([m]) => m);
    const lowestOther = others.sort()[0];
    const standing = now >= this.declinedUntil && this.quorum.hearsQuorum();
    const lowest = (standing ? [this.s.self, ...others].sort()[0] : lowestOther) ?? ABSTAIN;
    // Stay with a candidate while it is heard and still a candidate (votes for itself): it may be
    // founding with our vote right now. Otherwise back the lowest candidate we know.
    const backed = this.vote === undefined ? undefined : this.others.discovered.get(this.vote);
    if (!backed?.proven || backed.vote !== this.vote || this.others.succeeded(this.vote!, backed.address)) {
      if (this.vote !== lowest)
        this.s.ctx.trace(
          () =>
            `vote ${lowest} (was ${this.vote ?? '-'}; standing ${standing}, counts ${this.quorum.counts()}, ` +
            `${this.others.discovered.size} joiners heard, member heard ${this.word.heardMemberAt !== undefined})`,
        );
      this.vote = lowest;
    }
    if (this.vote !== this.s.self) {
      this.candidateSince = undefined;
      this.expired = 0;
    }
    // A candidate that hears a running group's member does not found (below), and that time is
    // not its try: else it steps aside for want of votes it could not use (chaos seed 61).
    else if (this.word.deaf(now)) this.candidateSince = now;
    else this.candidateSince ??= now;
    this.word.forgetMember(now);
    // Only seeds vote a group into being: a joiner outside the seeds (a replica added later, one
    // whose only seed is a running member it has not heard yet) counting itself or others like it
    // would found a second group beside the one at the seeds.
    const voters = live
      .filter(([, d]) => d.vote === this.s.self && isSeed(this.s.o, d.address))
      .map(([m]) => m);
    const counting = voters.filter((m) => this.others.discovered.get(m)?.counts).length;
    // Past its try, a candidate whose proposals expired again and again steps aside even when
    // the votes it hears still make a quorum: the voters' own counts can make one that their
    // confirmations, judged against the co-founders it can ask (its seeds), never make, and it
    // proposed again every suspectMs for ever, each proposal keeping its voters bound (chaos seed
    // 3514, FINDINGS 198). One expiry is a lost message, and the next proposal often founds.
    const overdue = this.vote === this.s.self && now - this.candidateSince! > this.s.o.bootstrapMs + giveUp;
    if (
      !(overdue && this.expired >= MAX_EXPIRED) &&
      !this.word.deaf(now) &&
      this.vote === this.s.self &&
      now - this.joinStartedAt >= this.s.o.bootstrapMs &&
      // A candidate since a round of Joins at least: joiners that moved their votes to it
      // together (a candidate before it stepped aside) are all heard, and all found the group
      // (each offers its state to the re-founding), rather than the first to answer alone.
      now - this.candidateSince! >= 2 * this.s.o.joinRetryMs &&
      counting + this.quorum.ownVote() >= this.quorum.needed()
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
    this.sendJoin();
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
      addresses: [this.s.o.address, ...voters.map((m) => this.others.discovered.get(m)?.address ?? '')],
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
    if (!t && this.word.deaf(this.s.ctx.now())) return;
    // Bound to this founder already: an older proposal's Found (late) is not answered; a newer
    // one (the founder proposed again: the confirmed part of its last, or after it expired) is
    // what we may be counted in now, so it is what we remember (FINDINGS 64).
    const newer = t !== undefined && pid !== undefined && (t.pid === undefined || pid > t.pid);
    if (t && pid !== undefined && t.pid !== undefined && pid < t.pid) return;
    if ((!t || newer) && proposal?.members.includes(this.s.self) && this.quorum.coveredBy(proposal)) {
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
    const last = this.lastView;
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
    if (f.confirmed.size === f.asked.length && this.quorum.confirmedBy(f)) this.startFounded();
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
    const addresses = [this.s.o.address, ...voters.map((m) => this.others.discovered.get(m)?.address ?? '')];
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

  /**
   * Another joiner's Join, heard while we look for the group ourselves. Its vote counts once a
   * Join of its echoes the challenge we send to its address: without that, one Join a minute in
   * an id below every seed's, from an address where no one receives, held every keyless seed's
   * vote and no group was founded (FINDINGS 159). Time does not tell a forged candidate from a
   * real one that cannot propose yet (passing over silent candidates wedged re-foundings,
   * FINDINGS 163); the round trip does, for a forger that does not receive at the address.
   */
  onJoin(from: MemberId, address: string, h: unknown[]): void {
    const { vote, counts, challenge, echo } = joinHeader.decode(h);
    const now = this.s.ctx.now();
    const proves = echo.length > 0 && echo.includes(this.challenges.challengeFor(address));
    // It receives there: our Found, Confirm and Install go there, and its stream to us is asked
    // for there (FINDINGS 215). Before it could be a founder or a voter of ours.
    if (proves || this.keyed) this.pins.pin(from, address, false);
    let d = this.others.discovered.get(from);
    if (d?.proven && d.address !== address) {
      // A proven joiner's Join from elsewhere: it moves there only by a Join that proves the new
      // address (a forger that knows its id cannot take it away from afar). Answered, so that a
      // joiner that did move proves it.
      if (proves) {
        d.address = address;
        d.trusted = challenge || undefined;
        d.recent = [];
      } else {
        if (challenge !== '' && this.challenges.mayAnswer(d, now)) this.answerAt(address, challenge);
        return;
      }
    }
    if (d === undefined) {
      // Records expire after 3 × suspectMs; this bounds them (and the Joins sent back) under a
      // flood of invented ids too.
      if (this.others.discovered.size >= this.s.o.maxJoiners && !this.others.evictFor(address, proves))
        return;
      d = {
        address,
        at: now,
        vote,
        counts,
        proven: false,
        trusted: undefined,
        recent: [],
        answeredAt: Number.NEGATIVE_INFINITY,
      };
      this.others.discovered.set(from, d);
    } else if (d.address !== address) {
      // An unproven joiner's address is its latest Join's.
      d.address = address;
      d.recent = [];
    }
    if (proves) {
      d.proven = true;
      if (challenge !== '') d.trusted = challenge;
    } else if (d.proven) {
      // A proven record changes only by Joins that prove it again: a forger cannot move a real
      // joiner's vote, keep a dead one alive, nor crowd its challenge out, from afar.
      return;
    }
    d.at = now;
    d.vote = vote;
    d.counts = counts;
    const fresh = challenge !== '' && challenge !== d.trusted && !d.recent.includes(challenge);
    if (fresh && !d.proven) d.recent = [challenge, ...d.recent].slice(0, 2);
    // A challenge new to us is answered at once, echoed first, so that founding waits a round
    // trip for it, not a Join period, and forged challenges at that address cannot crowd it out.
    // An unproven joiner is not sent our periodic Joins (sendJoin): each of its Joins is answered
    // (once a Join period), so a lost answer is made up by its next Join.
    if (fresh && this.challenges.mayAnswer(d, now)) this.answerAt(address, challenge);
    else if (!fresh && !d.proven && !this.keyed && challenge !== '' && this.challenges.mayAnswerAt(address))
      this.answerAt(address);
  }

  /** A member's Here (from `from`): a group exists. The coordinator's carries a nonce for us,
   * which our Joins echo from now on; a new one is answered at once, so admission costs one
   * round trip more than before, not a Join retry period. */
  onHere(h: unknown[], from: string, sender: MemberId): void {
    const here = hereHeader.decode(h);
    const proven = this.challenges.issued(here.echo, from);
    if (proven || this.keyed) this.pins.here(sender, from, proven, here.coordinator, here.address);
    const coordinatorAt = sender === here.coordinator ? from : here.address;
    if (!this.word.hear(from, proven, sender, here.coordinator, coordinatorAt)) return;
    // The coordinator's address it names becomes where our Joins go only from a Here that proved
    // its sender receives our Joins (it echoes our challenge to its address): a forged Here
    // naming any address drew our Joins there for 2 × suspectMs (FINDINGS 234). An unproven
    // one (an answer to our beacon, or a forger's) is answered at its source instead, once a
    // Join period there: a member answers that with a Here that proves it.
    if (proven || this.keyed) {
      if (here.address !== '') this.coordinatorHint = here.address;
    } else if (this.challenges.mayAnswerAt(from)) {
      this.answerAt(from);
      return;
    }
    if (here.nonce === '' || here.nonce === this.nonce) return;
    this.nonce = here.nonce;
    if (this.echoed() === '') return;
    this.answerAt(from);
  }

  /** The nonce our Joins echo: none while a damped rejoin must not be admitted yet. */
  private echoed(): string {
    return this.s.ctx.now() >= this.admitAfter ? this.nonce : '';
  }

  /**
   * A running group's coordinator beaconed its lineage to us: like a Here from it, unanswered (our
   * Joins now go to it, and its Here echoes their challenge; see `GroupWord.credit`).
   */
  onLineage(address: string): void {
    if (!this.word.hear(address, false, undefined, '', '')) return;
    this.coordinatorHint = address;
  }

  /** An Install while joining: the view that admits us (or founds the group with us). */
  onInstall(from: MemberId, m: InstallHeader): void {
    if (!m.members.includes(this.s.self)) return;
    // Bound to a founder: only a view of its group (its founding view, or a later one admitting
    // us as a joiner), else the founder may count us in a group we are not in. A view that has
    // the founder among its members is of its group, whoever installs it: the founder's promise
    // of it, adopted by the next coordinator when the founder failed mid-flush, comes from that
    // coordinator; refusing it left us in a view we never installed, its survivors a minority
    // of it (RPC seed 33003640, test/sim/FINDINGS.md item 57).
    // Also a view without the founder (crashed since) but with another member of its proposal:
    // that member's incarnation was asked into the founder's group, so the view is of that group,
    // and refusing it left us in a view we never installed (RPC seed 37002565, FINDINGS 61).
    const t = this.tentative;
    const ofFounder = (x: MemberId) => x === t?.founder || (x !== this.s.self && t?.proposed?.includes(x));
    if (t !== undefined && from !== t.founder && !m.members.some(ofFounder)) return;
    // Unbound, only a running group's view: from a member whose Here proved its address (it
    // received our Join there, at an anchor when we have seeds). A sender proven only by a Join
    // is a joiner, and a forger's Join proves its own address in any id it likes (FINDINGS 215).
    if (t === undefined && !this.keyed && !this.pins.pinnedByHere(from)) {
      this.s.c.installsUnproven++;
      return;
    }
    for (const [member, seq] of m.nakNext) this.s.ctx.passDown({ type: 'expect', member, seq });
    const { joined, left, failed } = m;
    this.s.layer.install(
      m.newViewId,
      m.epoch,
      m.members,
      m.addresses,
      { previousId: undefined, joined, left, failed },
      [],
    );
  }
}
