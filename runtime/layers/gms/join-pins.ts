/**
 * Where each sender proved it receives, before a view: the layers below send to it there, refuse
 * its stack packets from elsewhere, and ask there where its stream begins (FINDINGS 215).
 * Invariant: without a key, with seeds, a Here pins only at an anchor (a seed's address, one of
 * our last view, or a coordinator's that a member at one named), an address holds one id, and
 * a pin moves only from an unanchored address to an anchored one; an Install of a running group
 * is taken only from a sender a Here pinned.
 */
import type { MemberId } from '../../stack/member.js';
import { isWildcard } from '../../transport/address.js';
import { isSeed } from './founding-quorum.js';
import type { Joiner } from './joiner.js';
import type { GmsShared } from './state.js';

export class JoinPins {
  /**
   * Senders that proved where they receive (see {@link pin}): whether that address is an anchor
   * (see {@link anchored}), and whether a Here proved it (a member of a running group).
   */
  private readonly pins = new Map<MemberId, { address: string; anchored: boolean; here: boolean }>();
  /** Coordinators (id, address) named by a Here that an anchor proved: a running group's
   * coordinator outside the seeds is trusted there (see {@link anchored}). */
  private readonly vouched = new Map<MemberId, string>();
  /** A Here proved an anchor's address this attempt: the group answers there, and a Here pins
   * only at anchors from now on (see {@link pin}). */
  private anchorHeard = false;

  constructor(
    private readonly s: GmsShared,
    private readonly j: Joiner,
  ) {}

  /** A new join attempt: nothing is pinned yet. */
  restart(): void {
    this.pins.clear();
    this.vouched.clear();
    this.anchorHeard = false;
  }

  /** Whether a Here pinned `member` (it is a member of a running group: see {@link pin}). */
  pinnedByHere(member: MemberId): boolean {
    return this.pins.get(member)?.here === true;
  }

  /**
   * A Here from `sender` at `from` that proved it receives our Joins there (`proven`; under a
   * key, any Here): its stream to us (the Install) is asked for there (FINDINGS 215). A member
   * at an anchor also tells us where its coordinator is (`coordinator` at `coordinatorAt`).
   */
  here(sender: MemberId, from: string, proven: boolean, coordinator: MemberId, coordinatorAt: string): void {
    if (proven && this.anchor(from)) this.anchorHeard = true;
    if (this.anchor(from) && coordinatorAt !== '' && !isWildcard(coordinatorAt)) {
      this.vouched.delete(coordinator);
      this.vouched.set(coordinator, coordinatorAt);
      if (this.vouched.size > this.s.o.maxJoiners) this.vouched.delete(this.vouched.keys().next().value!);
    }
    this.pin(sender, from, true);
  }

  /**
   * `member` echoed the challenge our Join carried to `address`, from there (`here`: in a Here,
   * as a member of a running group; else in a Join, as another joiner): it receives there.
   * Without a key nothing else binds a sender id to an address before a view, and a Sync for its
   * point-to-point stream went to whoever spoke last in its id: a forger at its own address
   * speaking first in the coordinator's id got the joiner's Sync, answered with an origin of its
   * own and had its Install installed (FINDINGS 215). The layers below now send to it there,
   * refuse its stack packets from elsewhere, and ask there where its stream begins, at once
   * (`pin`). But an echo proves an address, not an id: a forger that Joins us from its own
   * address is answered with a Join carrying our challenge for it, and can then echo it in any
   * id. So with seeds, a Here pins only at an anchor (see {@link anchored}), unless no anchor
   * has answered for `suspectMs` since we started (every seed replaced, and the group found by
   * its coordinator's beacon: chaos seed 42, test/stack/gms-bootstrap-stuck.test.ts); the first
   * proof holds, unless a later one is at an anchor and it was not; and an Install is taken from
   * a running group only from a member a Here pinned (see `Joiner.onInstall`).
   */
  pin(member: MemberId, address: string, here: boolean): void {
    if (member === this.s.self || address === '' || isWildcard(address)) return;
    if (this.j.keyed) {
      // Only nak's asking is gated under a key (com keeps no pins): the first address stays.
      const first = this.pins.get(member);
      this.pins.delete(member);
      this.pins.set(member, {
        address: first?.address ?? address,
        anchored: true,
        here: here || first?.here === true,
      });
      if (this.pins.size > 4 * this.s.o.maxJoiners) this.pins.delete(this.pins.keys().next().value!);
      this.s.pin(member, first?.address ?? address);
      return;
    }
    const anchored = this.anchored(member, address);
    const anchorless = !this.anchorHeard && this.s.ctx.now() - this.j.joinStartedAt >= this.s.o.suspectMs;
    if (here && !anchored && this.s.o.seeds.length > 0 && !anchorless) {
      this.s.c.pinsRefused++;
      return;
    }
    const had = this.pins.get(member);
    if (had && had.address !== address && (had.anchored || !anchored)) {
      this.s.c.pinsRefused++;
      return;
    }
    this.pins.delete(member);
    // One id an address (a newer one there is a restarted process), as below: a forger at its
    // own address proves as many ids there as it likes, and must not push real pins out.
    for (const [m, p] of this.pins) if (p.address === address) this.pins.delete(m);
    this.pins.set(member, { address, anchored, here: here || (had?.address === address && had.here) });
    if (this.pins.size > 4 * this.s.o.maxJoiners) this.pins.delete(this.pins.keys().next().value!);
    this.s.pin(member, address);
  }

  /** Whether `address` is where we trust the group to be: a seed's, or one of our last view. */
  private anchor(address: string): boolean {
    return isSeed(this.s.o, address) || (this.j.lastView?.addresses.includes(address) ?? false);
  }

  /** Whether `member` at `address` is anchored: the address is an anchor, or a member at one
   * named it the coordinator there (a proven Here). */
  private anchored(member: MemberId, address: string): boolean {
    return this.anchor(address) || this.vouched.get(member) === address;
  }
}
