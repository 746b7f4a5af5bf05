import type { MemberId } from '../../stack/member.js';
import type { LastView } from '../../stack/types.js';
import { isWildcard } from '../../transport/address.js';
import { hereHeader, type InstallHeader, JOIN_ECHOES, joinHeader } from './codec.js';
import { FoundingQuorum } from './founding-quorum.js';
import { FoundingVote } from './founding-vote.js';
import { GroupWord } from './group-word.js';
import { JoinChallenges } from './join-challenges.js';
import { JoinPins } from './join-pins.js';
import { type Heard, OtherJoiners } from './other-joiners.js';
import type { GmsShared } from './state.js';

/**
 * The joiner role (JGroups' client): a member not in a view yet. It looks for the group
 * (Join to the seeds and a beacon, retried), follows a member's Here to the coordinator, takes
 * the view that admits it, and when no group answers runs the two-phase bootstrap vote. It
 * composes the parts that keep a joiner's tables (each keeps one invariant: see its file) and
 * handles the discovery traffic (Join, Here, Lineage) and the Install that ends joining.
 * Invariant: only a sender that proved, by a round trip at its address, that it receives there
 * (under a key, any sender) steers where our Joins go, is backed or counted in the vote, or
 * installs a running group's view in us; an unproven one is answered where it spoke from, at a
 * bounded rate, and its word holds founding back once, for a bounded time (see GroupWord).
 */
export class Joiner {
  /** Other joiners heard while no group answers, and their votes. */
  readonly others: OtherJoiners;
  /** Our Joins' challenges and the budget of immediate answers to others'. */
  readonly challenges: JoinChallenges;
  /** Where each sender proved it receives. */
  readonly pins: JoinPins;
  /** A running group's word, and whether it keeps us from founding. */
  readonly word: GroupWord;
  /** Whose votes count towards founding, and how many it takes. */
  readonly quorum: FoundingQuorum;
  /** The bootstrap vote, as candidate, founder and voter. */
  readonly founding: FoundingVote;
  private coordinatorHint: string | undefined;
  /** The nonce of the latest coordinator's Here ('' before one): proves our address. */
  private nonce = '';
  /**
   * com verifies packets under a group key (set by the first authenticated discovery packet):
   * no one without the key speaks in any id, so every Here or Join pins its sender where it
   * first came from, and an Install is taken from any sender, as before pins (FINDINGS 215).
   */
  keyed = false;
  /** When this join attempt started (set by {@link start}): our challenges are keyed by it. */
  joinStartedAt = 0;
  /** The view this process was last in (a previous incarnation), if any (set by {@link start}). */
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
    this.challenges = new JoinChallenges(s, this);
    this.pins = new JoinPins(s, this);
    this.word = new GroupWord(s, this.others);
    this.quorum = new FoundingQuorum(s, this);
    this.founding = new FoundingVote(s, this);
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

  /** The join tick: Joins again, and the bootstrap vote's next step. */
  timer(): void {
    if (this.s.state !== 'joining') return;
    const now = this.s.ctx.now();
    this.s.ctx.setTimer('join', this.s.o.joinRetryMs);
    this.challenges.renew();
    if (this.founding.tick(now)) this.sendJoin();
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
      vote: this.founding.vote ?? '',
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

  /** The nonce our Joins echo: none while a damped rejoin must not be admitted yet. */
  private echoed(): string {
    return this.s.ctx.now() >= this.admitAfter ? this.nonce : '';
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
    // us as a joiner).
    const bound = this.founding.bound;
    if (bound && !this.founding.ofFoundersGroup(from, m.members)) return;
    // Unbound, only a running group's view: from a member whose Here proved its address (it
    // received our Join there, at an anchor when we have seeds). A sender proven only by a Join
    // is a joiner, and a forger's Join proves its own address in any id it likes (FINDINGS 215).
    if (!bound && !this.keyed && !this.pins.pinnedByHere(from)) {
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
