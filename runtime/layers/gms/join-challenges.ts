/**
 * The challenges that prove addresses before a view, and how often a joiner answers others'. Each
 * Join we send carries a challenge for the address it goes to; a Here or Join that echoes it
 * comes from a host that receives there (FINDINGS 159, 234). Invariant: only a host receiving our
 * Joins at an address learns our challenge for it, and the immediate answers we send are bounded
 * per Join period (in all, and per address or joiner), so a forger's invented ids cannot make a
 * joiner a reflector.
 */
import type { Joiner } from './joiner.js';
import type { Heard } from './other-joiners.js';
import type { GmsShared } from './state.js';

/** Immediate answers to new challenges per Join period, at most (a forger's invented ids, each
 * a record with a new challenge, would make a joiner a reflector at any rate). */
const ANSWERS_PER_PERIOD = 16;

export class JoinChallenges {
  /**
   * Our Joins' challenge for each address they went to lately, least recently used first (see
   * {@link challengeTo}): a Here that echoes one comes from where our Joins arrive.
   */
  private readonly challenges = new Map<string, string>();
  /** Immediate answers left this Join period (see {@link ANSWERS_PER_PERIOD}). */
  private answers = ANSWERS_PER_PERIOD;
  /** When each source of an unproven Here or Join was last answered (at most maxJoiners kept). */
  private readonly answeredAt = new Map<string, number>();

  constructor(
    private readonly s: GmsShared,
    private readonly j: Joiner,
  ) {}

  /** A new join attempt: its challenges are new, and so is every budget. */
  restart(): void {
    this.challenges.clear();
    this.answeredAt.clear();
    this.answers = ANSWERS_PER_PERIOD;
  }

  /** A new Join period: the immediate answers are renewed. */
  renew(): void {
    this.answers = ANSWERS_PER_PERIOD;
  }

  /**
   * Our challenge for the address a Join goes to, this attempt. Keyed by the join secret
   * (`Group`: 32 random bytes a process), so only a host that receives our Joins at that address
   * learns it: a forger that receives our Joins at its own address cannot echo the challenge of
   * another (FINDINGS 159). Not drawn from the stack's random source: a draw there would shift
   * every later one, and with them every simulator seed that pins a scenario. A bare stack
   * without a secret keys it by its own id (known to anyone: tests only).
   */
  challengeTo(address: string): string {
    const c = this.challenges.get(address) ?? this.challengeFor(address);
    // Least recently used first: the seeds, the hint and the last view are used every period,
    // so a forger's addresses (answered once each) are the ones that fall out past the bound.
    this.challenges.delete(address);
    this.challenges.set(address, c);
    if (this.challenges.size > 4 * this.s.o.maxJoiners + this.s.o.seeds.length)
      this.challenges.delete(this.challenges.keys().next().value!);
    return c;
  }

  challengeFor(address: string): string {
    return this.s.challenge('challenge', this.j.joinStartedAt, address);
  }

  /**
   * Whether `echo`, in a packet from `from`, is a challenge our Joins carried this attempt: the
   * one for `from`, or one for an address we sent to lately (a seed's name, a host that answers
   * from another of its addresses).
   */
  issued(echo: string, from: string): boolean {
    if (echo === '') return false;
    if (echo === this.challengeFor(from)) return true;
    for (const c of this.challenges.values()) if (c === echo) return true;
    return false;
  }

  /**
   * Whether an unproven Here, or an unproven joiner's Join whose challenge we answered before,
   * from `address` may be answered: once a Join period an address, within the
   * {@link ANSWERS_PER_PERIOD} of all immediate answers (a forger's Joins in a real joiner's id
   * from elsewhere must not use up that joiner's own, see {@link mayAnswer}).
   */
  mayAnswerAt(address: string): boolean {
    const now = this.s.ctx.now();
    const last = this.answeredAt.get(address);
    if ((last !== undefined && now - last < this.s.o.joinRetryMs) || this.answers <= 0) return false;
    this.answers--;
    this.answeredAt.delete(address);
    this.answeredAt.set(address, now);
    if (this.answeredAt.size > this.s.o.maxJoiners)
      this.answeredAt.delete(this.answeredAt.keys().next().value!);
    return true;
  }

  /** Whether a new challenge of `d` may be answered at once: once a Join period per joiner, and
   * {@link ANSWERS_PER_PERIOD} in all. */
  mayAnswer(d: Heard, now: number): boolean {
    if (now - d.answeredAt < this.s.o.joinRetryMs || this.answers <= 0) return false;
    d.answeredAt = now;
    this.answers--;
    return true;
  }
}
