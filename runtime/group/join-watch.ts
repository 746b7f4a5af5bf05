import { type JoinError, JoinTimeoutError, NoAnswerError } from '../errors.js';
import { memberId } from '../stack/member.js';
import type { LastView } from '../stack/types.js';
import { loopbackHint } from '../transport/reach.js';
import { DecodeError } from '../wire/errors.js';
import { decodeFixedHeader, groupIdOf } from '../wire/packet.js';
import {
  describeRefusal,
  REFUSAL_GRACE_MS,
  type Refusal,
  readRefusal,
  refusalError,
} from '../wire/refusal.js';

/** Addresses other than the seeds a {@link JoinWatch} keeps, in each of its sets. */
export const MAX_WATCHED = 256;

/**
 * What a member saw while it first joins, so that a join that cannot succeed fails with why
 * (docs/api.md, "Join errors"): which addresses sent packets of this group, and which members
 * refused it (another group, another key, one side without a key; com's refusal notices).
 *
 * A refusal from a seed is the answer if, within {@link REFUSAL_GRACE_MS}, nothing of this
 * group arrives from an address that did not refuse too (a seed of another group beside two of
 * ours must not fail a join that would succeed); else the join goes on and, if it times out,
 * its error says what each address did.
 *
 * Refusal notices cannot be signed (the two sides share no key, or the refuser is of another
 * group), so anyone able to send from a seed's address can forge one. With a key, a packet the
 * stack accepted (it verified under this member's key) proves the address speaks for this group:
 * a refusal from it is forged and is dropped, before or after it came.
 */
export class JoinWatch {
  private readonly groupId: number;
  /**
   * Addresses packets of this group came from (any kind, before any check): the seeds, and at
   * most {@link MAX_WATCHED} others. Source addresses may be forged, and a first join listens
   * for up to `joinTimeoutMs`: a flood from invented addresses must not grow it without end.
   */
  private readonly heard = new Set<string>();
  /** Addresses heard past {@link MAX_WATCHED} (not kept): none of them is known to have refused. */
  private unkept = 0;
  /** Refusals, from the seeds and at most {@link MAX_WATCHED} other addresses. */
  private readonly refusals = new Map<string, Refusal>();
  /** With a key: addresses that sent a packet the stack accepted (so it verified), as many. */
  private readonly verified = new Set<string>();
  private grace: NodeJS.Timeout | undefined;

  constructor(
    private readonly groupName: string,
    private readonly seeds: readonly string[],
    private readonly address: string,
    private readonly self: () => string,
    /** This member's key id (`''` without a key). */
    private readonly keyId: string,
    private readonly fail: (e: JoinError) => void,
    /** Other addresses this member receives at (a wildcard-bound transport's `aliases`). */
    private readonly aliases: readonly string[] = [],
    /** The view read from this member's membership file, which bounds its founding vote. */
    private readonly remembered?: { path: string; view: LastView },
  ) {
    this.groupId = groupIdOf(groupName);
  }

  /** A packet while joining: true if it was a refusal notice (consumed here, not for the stack). */
  onPacket(bytes: Uint8Array, from: string): boolean {
    const refusal = readRefusal(bytes);
    if (refusal) {
      if (this.verified.has(from)) return true;
      if (!this.refusals.has(from) && this.keeps(this.refusals.size, from)) this.refusals.set(from, refusal);
      if (this.seeds.includes(from) && this.grace === undefined)
        this.grace = setTimeout(() => {
          if (this.onlyRefused()) this.fail(this.refusalError(from, this.refusals.get(from)!));
        }, REFUSAL_GRACE_MS);
      return true;
    }
    try {
      const h = decodeFixedHeader(bytes);
      if (
        h.groupId === this.groupId &&
        from !== this.address &&
        memberId(h.sender) !== this.self() &&
        !this.heard.has(from)
      ) {
        if (this.keeps(this.heard.size, from)) this.heard.add(from);
        else this.unkept++;
      }
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
    return false;
  }

  /** The stack accepted a packet from `from`. With a key it verified, so `from` speaks for
   * this group and any refusal from it is forged; without one it proves nothing. */
  onAccepted(from: string): void {
    if (this.keyId === '' || this.verified.has(from) || !this.keeps(this.verified.size, from)) return;
    this.verified.add(from);
    this.refusals.delete(from);
  }

  /** Whether every address that sent packets of this group also refused this member (its Joins
   * or beacons say nothing: it cannot take this member in). */
  private onlyRefused(): boolean {
    if (this.unkept > 0) return false;
    for (const a of this.heard) if (!this.refusals.has(a)) return false;
    return true;
  }

  /** Whether a set of `size` entries takes `from`: a seed always, another below {@link MAX_WATCHED}. */
  private keeps(size: number, from: string): boolean {
    return this.seeds.includes(from) || size < MAX_WATCHED;
  }

  close(): void {
    clearTimeout(this.grace);
  }

  /** The error of a join that got no view within `ms`. */
  timeoutError(ms: number): JoinError {
    const seeds = this.seeds.join(', ');
    const [first] = this.refusals;
    if (first && this.onlyRefused()) return this.refusalError(first[0], first[1]);
    if (this.heard.size === 0) {
      return new NoAnswerError(
        `nothing answered at the seeds of '${this.groupName}' (${seeds}) within ${ms} ms ` +
          `(this member listens at ${this.address}): are the other replicas up, and these their addresses?` +
          noAnswerHint(this.address, this.seeds, this.aliases),
        this.seeds,
      );
    }
    const answered = [...this.heard];
    const more = this.unkept > 0 ? ` (and ${this.unkept} packets from further addresses, not kept)` : '';
    const seedsUp = this.seeds.filter(
      (s) => this.heard.has(s) || s === this.address || this.aliases.includes(s),
    ).length;
    const quorum = Math.floor(Math.max(1, this.seeds.length) / 2) + 1;
    const refused = [...this.refusals].map(([a, r]) => `${a} refused (${describeRefusal(r)})`);
    return new JoinTimeoutError(
      `no view of '${this.groupName}' within ${ms} ms: packets of this group came from ` +
        `${answered.join(', ')}${more}; ${seedsUp} of ${this.seeds.length} seeds up, founding needs ${quorum}` +
        (refused.length > 0 ? `; ${refused.join('; ')}` : '') +
        (this.remembered ? `; ${rememberedNote(this.remembered)}` : ''),
      this.seeds,
      answered,
    );
  }

  private refusalError(address: string, r: Refusal): JoinError {
    return refusalError(this.groupName, this.seeds, address, r, this.keyId, 'member');
  }
}

/** Why a member restarted with a membership file may not help found the group, and the way out. */
function rememberedNote(r: { path: string; view: LastView }): string {
  const others = r.view.addresses.filter((_, i) => r.view.members[i] !== r.view.self);
  return (
    `this member remembers a view with ${others.join(', ') || 'no other member'} from its membership file ` +
    `${r.path}: its vote counts towards founding only while at most half of that view is ` +
    `unaccounted for (not heard at those addresses); if that group is gone for good, move the file ` +
    `away (docs/protocol.md, "Membership memory")`
  );
}

/**
 * What a joiner that heard nothing can tell from its own address, for the two set-ups a new
 * user gets wrong: a transport left on its default (127.0.0.1, a random port) while the seeds
 * are other hosts (a loopback socket cannot send there: EINVAL, no packet leaves), or while the
 * seeds are this host's ports (a member not at a seed cannot found the group, so every copy
 * of such a program waits for the others).
 */
export function noAnswerHint(
  address: string,
  seeds: readonly string[],
  aliases: readonly string[] = [],
): string {
  const loopback = loopbackHint(address, seeds);
  if (loopback) return loopback;
  if (!seeds.includes(address) && !aliases.some((a) => seeds.includes(a)))
    return ` This member is not at one of the seeds, so it can join a running group but not found one: bind each member's transport to its own seed (udp({ host, port }), troupe serve --port).`;
  return '';
}
