import { headerString, headerTuple, headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import { requirePositive } from '../stack/options.js';
import {
  type DownEvent,
  deliverWith,
  downWith,
  type Layer,
  type LayerContext,
  type LayerFactory,
  pushHeader,
  type UpEvent,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** Header kinds of the stable layer. */
export const StableKind = {
  /** [0] a data message of the layers above, passed through. */
  Data: 0,
  /** [1, viewId, [[sender, seq], ...], settled, nonces] what the reporter has delivered of each
   * sender's cast stream (every seq up to and including `seq`); `settled` is 1 when the reporter
   * already sees all of that as stable, 0 while it still waits for reports; `nonces` (with
   * membership above) each view member's report nonce as the reporter heard it, in view order
   * (`''` for one not heard yet): a receiver takes the report only when its own is there. */
  Gossip: 1,
} as const;

/** The header of a data message: one array for all (nothing writes to a header). */
const DATA: readonly unknown[] = Object.freeze([StableKind.Data]);

export interface StableOptions {
  /** Interval between gossip rounds while something is unstable or changed (ms). */
  gossipMs: number;
  /** Gossip this long after the last delivery of a burst, ahead of the periodic round (ms). */
  settleMs: number;
}

const DEFAULTS: StableOptions = { gossipMs: 50, settleMs: 5 };

/**
 * STABLE (RMP's stability tracking, Horus STABLE): learns which prefix of each sender's cast
 * stream every member of the current view has delivered. Members gossip what they delivered
 * (unreliable casts, repeated until things settle); per sender, the minimum over the view is
 * stable. When it advances, `stable` goes down (nak frees its retransmission buffer) and up.
 *
 * Sequence numbers are nak's cast-stream numbers (`meta.seq`), delivered in order per sender,
 * so "highest delivered" is also "highest contiguous".
 */
class Stable implements Layer {
  private viewId: number | undefined;
  private members: readonly MemberId[] = [];
  private memberSet = new Set<MemberId>();
  /** Highest seq this member delivered (or need not deliver) of each sender's cast stream. */
  private readonly delivered = new Map<MemberId, number>();
  /**
   * Per sender, the seq before the first this member delivered (or its join point): where
   * `unstable` counts from until something is stable. Counted from 0 it was the sender's nak
   * position (a random origin below 2^48), which `status` shows any client of a keyless group.
   */
  private readonly counted = new Map<MemberId, number>();
  /** Reports of the other members in this view: reporter → sender → seq. */
  private reports = new Map<MemberId, Map<MemberId, number>>();
  /** Last stable seq announced per sender; only ever advances. */
  private readonly stable = new Map<MemberId, number>();
  /** Own delivery changed since the last gossip. */
  private changed = false;
  /** Another member asked (by an unsettled gossip) for another round. */
  private asked = false;
  private gossipArmed = false;
  private settleArmed = false;
  /** When this member last delivered a cast (the settle timer counts from it). */
  private lastDeliveryAt = 0;
  /**
   * Membership's report nonces of a view: a report counts only echoing ours. A gossip is an
   * unreliable cast, and a report only raises what we hold: without a key, one forged in a
   * lossy member's name, claiming it had everything, had the others free what it still lacked,
   * and it was excluded (review37). None without membership above: every report counts.
   */
  private nonces: { viewId: number; own: string; heard: ReadonlyMap<MemberId, string> } | undefined;
  /**
   * Each member's report nonce as its own proven gossip of this view gave it (one echoing ours:
   * only a member hears our heartbeats), echoed in preference to a heartbeat's. A heartbeat is
   * unnumbered, so a forged one can name any nonce: heartbeats in each member's name with a wrong
   * one, every 2 ms, had every member echo it, refuse every report, and hold all casts (review37).
   */
  private proven = new Map<MemberId, string>();
  private readonly c = {
    gossipSent: 0,
    gossipReceived: 0,
    staleGossip: 0,
    stableEvents: 0,
    /** Gossip of our view that did not echo our report nonce (forged, or its reporter has not heard us yet). */
    gossipUnproven: 0,
  };

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: StableOptions,
  ) {}

  down(ev: DownEvent): void {
    switch (ev.type) {
      case 'cast':
      case 'send':
        this.ctx.passDown(downWith(ev, pushHeader(ev.msg, DATA)));
        return;
      case 'view':
        this.viewId = ev.view.id;
        this.members = [...ev.view.members];
        this.memberSet = new Set(ev.view.members);
        // Reports belong to a view: a member must report again in this one before it counts.
        this.reports = new Map();
        this.proven = new Map();
        this.changed = true;
        this.armGossip();
        this.ctx.passDown(ev);
        return;
      case 'forget':
        this.delivered.delete(ev.member);
        this.counted.delete(ev.member);
        this.stable.delete(ev.member);
        this.reports.delete(ev.member);
        for (const r of this.reports.values()) r.delete(ev.member);
        this.ctx.passDown(ev);
        return;
      case 'expect':
        // A join point: what came before `seq` will never be delivered here, nor asked for.
        if (!this.delivered.has(ev.member)) this.counted.set(ev.member, ev.seq - 1);
        this.advance(ev.member, ev.seq - 1);
        this.ctx.passDown(ev);
        return;
      case 'nonces':
        this.nonces = ev;
        return;
      default:
        this.ctx.passDown(ev);
    }
  }

  up(ev: UpEvent): void {
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'stable');
    if (kind === StableKind.Data) {
      if (ev.cast && ev.meta.seq !== undefined) this.advance(ev.from, ev.meta.seq);
      this.ctx.passUp(deliverWith(ev, rest));
      return;
    }
    if (kind !== StableKind.Gossip) throw new DecodeError('DECODE_BAD_SHAPE', `stable: unknown kind ${kind}`);
    this.onGossip(ev.from, h);
  }

  private advance(sender: MemberId, seq: number): void {
    // A join point at 0 means nothing delivered: there is nothing to report (a -1 in gossip).
    if (seq < 0) return;
    const had = this.delivered.get(sender);
    if (had !== undefined && had >= seq) return;
    if (had === undefined && !this.counted.has(sender)) this.counted.set(sender, seq - 1);
    this.delivered.set(sender, seq);
    this.changed = true;
    this.armGossip();
    // Fires once the burst pauses (settleMs after its last delivery), so its end is reported
    // promptly. Armed once and pushed back when it fires early, rather than re-armed by every
    // delivery: a timer write per delivered message was a hot-path cost.
    this.lastDeliveryAt = this.ctx.now();
    if (!this.settleArmed) {
      this.settleArmed = true;
      this.ctx.setTimer('settle', this.o.settleMs);
    }
  }

  private onGossip(from: MemberId, h: unknown[]): void {
    // Validate the whole header before using any of it.
    const viewId = headerUint(h[1], 'stable', 'viewId');
    const entries = headerTuple(h[2], 'stable', 0);
    const settled = headerUint(h[3], 'stable', 'settled');
    if (settled > 1) throw new DecodeError('DECODE_BAD_SHAPE', 'stable: settled must be 0 or 1');
    if (viewId !== this.viewId) {
      // A report for a view we have not installed yet, or one already replaced: views change
      // at slightly different times at different members, so this is normal and just ignored.
      this.c.staleGossip++;
      return;
    }
    // Same view id means the same agreed member list: a sender outside it is forged.
    if (!this.memberSet.has(from))
      throw new DecodeError('DECODE_BAD_SHAPE', `stable: gossip from non-member ${from}`);
    if (entries.length > this.members.length)
      throw new DecodeError('DECODE_BAD_SHAPE', 'stable: more entries than view members');
    const proof = this.nonces?.viewId === viewId ? this.nonces : undefined;
    if (proof && from !== this.ctx.self) {
      const echoes = h.length > 4 ? headerTuple(h[4], 'stable', 0) : [];
      if (echoes[this.members.indexOf(this.ctx.self)] !== proof.own) {
        this.c.gossipUnproven++;
        // Its reporter may not have heard our heartbeat yet: it gossips again while unsettled.
        return;
      }
      const theirs = echoes[this.members.indexOf(from)];
      if (typeof theirs === 'string' && theirs !== '') this.proven.set(from, theirs);
    }
    const report = new Map<MemberId, number>();
    for (const e of entries) {
      const t = headerTuple(e, 'stable', 2);
      const sender = headerString(t[0], 'stable', 'sender');
      // -1 ("nothing delivered") came from joiners before this was fixed at the source: an
      // entry that says nothing, skipped rather than refusing the whole report.
      const seq = t[1] === -1 ? -1 : headerUint(t[1], 'stable', 'seq');
      if (!this.memberSet.has(sender))
        throw new DecodeError('DECODE_BAD_SHAPE', `stable: report on non-member ${sender}`);
      if (report.has(sender)) throw new DecodeError('DECODE_BAD_SHAPE', `stable: ${sender} reported twice`);
      report.set(sender, seq);
    }
    this.c.gossipReceived++;
    if (from === this.ctx.self) return; // our own gossip looped back; our live state is newer
    let held = this.reports.get(from);
    if (!held) {
      held = new Map();
      this.reports.set(from, held);
    }
    // Unreliable gossip may arrive out of order: a report only ever raises what we hold.
    for (const [sender, seq] of report) if (seq >= 0 && (held.get(sender) ?? -1) < seq) held.set(sender, seq);
    this.recompute();
    if (settled === 0) {
      // The reporter still waits for someone; it may be us, whose last gossip it lost.
      this.asked = true;
      this.armGossip();
    }
  }

  /** Per sender, the minimum over every view member's report (ours included). */
  private recompute(): void {
    let advanced = false;
    for (const sender of this.members) {
      let min = this.delivered.get(sender);
      if (min === undefined) continue;
      for (const m of this.members) {
        if (m === this.ctx.self) continue;
        const seq = this.reports.get(m)?.get(sender);
        if (seq === undefined) {
          min = undefined; // a member that has not reported makes nothing stable for this sender
          break;
        }
        if (seq < min) min = seq;
      }
      if (min === undefined) continue;
      const was = this.stable.get(sender);
      if (was !== undefined && was >= min) continue;
      this.stable.set(sender, min);
      advanced = true;
    }
    if (!advanced) return;
    this.c.stableEvents++;
    const seqs = new Map<MemberId, number>();
    for (const m of this.members) {
      const s = this.stable.get(m);
      if (s !== undefined) seqs.set(m, s);
    }
    this.ctx.passDown({ type: 'stable', seqs });
    this.ctx.passUp({ type: 'stable', seqs: new Map(seqs) });
  }

  /** Everything this member delivered from view members is known to be stable. */
  private settled(): boolean {
    for (const m of this.members) {
      const d = this.delivered.get(m);
      if (d !== undefined && (this.stable.get(m) ?? -1) < d) return false;
    }
    return true;
  }

  private armGossip(): void {
    if (this.gossipArmed || this.viewId === undefined) return;
    this.gossipArmed = true;
    this.ctx.setTimer('gossip', this.o.gossipMs);
  }

  timer(key: string): void {
    if (key === 'gossip') this.gossipArmed = false;
    else if (key === 'settle') {
      this.settleArmed = false;
      // Compare with the due time itself, not a recomputed quiet span: with floats, now + (due -
      // now) is exactly due when due > now, so the timer cannot re-arm at the same instant forever.
      const now = this.ctx.now();
      const due = this.lastDeliveryAt + this.o.settleMs;
      if (due > now) {
        this.settleArmed = true;
        this.ctx.setTimer('settle', due - now);
        return;
      }
    } else return;
    if (this.viewId === undefined) return;
    this.recompute();
    const settled = this.settled();
    // Stop when nothing changed, nobody asked, and everything here is stable.
    if (!this.changed && !this.asked && settled) return;
    if (key === 'settle' && !this.changed) return;
    this.changed = false;
    this.asked = false;
    const entries: [MemberId, number][] = [];
    for (const m of this.members) {
      const d = this.delivered.get(m);
      if (d !== undefined) entries.push([m, d]);
    }
    this.c.gossipSent++;
    const proof = this.nonces?.viewId === this.viewId ? this.nonces : undefined;
    const header: unknown[] = [StableKind.Gossip, this.viewId, entries, settled ? 1 : 0];
    if (proof)
      header.push(
        this.members.map((m) =>
          m === this.ctx.self ? proof.own : (this.proven.get(m) ?? proof.heard.get(m) ?? ''),
        ),
      );
    this.ctx.passDown({
      type: 'cast',
      msg: { headers: [header], payload: EMPTY },
      qos: { order: 'unreliable' },
    });
    // Unsettled: keep gossiping, since someone's report (or ours at someone) may have been lost.
    if (!settled) this.armGossip();
  }

  stats(): Record<string, number> {
    let unstable = 0;
    for (const m of this.members) {
      const d = this.delivered.get(m);
      if (d !== undefined) unstable += d - Math.max(this.stable.get(m) ?? -1, this.counted.get(m) ?? -1);
    }
    return { ...this.c, unstable, reporters: this.reports.size };
  }
}

const EMPTY = new Uint8Array(0);

export const stable: LayerFactory<StableOptions> = {
  name: 'stable',
  provides: ['stability'],
  requires: ['reliable', 'fifo'],
  create: (ctx, o) => {
    const opts = { ...DEFAULTS, ...o };
    requirePositive('stable', opts, Object.keys(opts));
    return new Stable(ctx, opts);
  },
};
