import { StackConfigError } from '../errors.js';
import { headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import {
  type DownEvent,
  deliverWith,
  downWith,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type Msg,
  pushHeader,
  type QoS,
  type UpEvent,
  type View,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** Header kinds of the fc layer. */
export const FcKind = {
  /** [0] a flow-controlled cast, or a point-to-point message (never counted). */
  Data: 0,
  /** [1, bytes] point to point: the receiver consumed `bytes` of the sender's casts; credit them. */
  Credit: 1,
  /** [2] an unreliable cast: it may be lost, so it neither costs credits nor is counted. */
  Uncounted: 2,
} as const;

/** The headers of counted and uncounted messages: one array each for all (nothing writes to a
 * header). */
const DATA: readonly unknown[] = Object.freeze([FcKind.Data]);
const UNCOUNTED: readonly unknown[] = Object.freeze([FcKind.Uncounted]);

export interface FcOptions {
  /** Bytes a member may cast ahead of each other member's consumption. */
  credits: number;
  /** Suspect a member that has blocked a cast for longer than this (ms); 0 waits forever. */
  maxBlockMs: number;
  /** Wait for credit from a majority of the view (this member counted), not from every member:
   * a slow member holds no sender back until it trails by `maxLagBytes`. */
  quorum: boolean;
  /** With `quorum`: bytes a member may trail (cast to it, not yet returned as credit) before a
   * sender waits for it too. At least `credits`; the default, 32 MB or `credits` if larger,
   * matches the ordering's lag bound (`seq` `lagRemoveBytes`), which removes such a member first. */
  maxLagBytes: number;
}

const DEFAULTS: FcOptions = { credits: 2_000_000, maxBlockMs: 0, quorum: true, maxLagBytes: 32_000_000 };

interface Queued {
  msg: Msg;
  qos: QoS;
  bytes: number;
  since: number;
}

/**
 * FC: credit-based flow control for casts (JGroups MFC, RMP's window). A sender holds, for each
 * other view member, credits in bytes; a cast of n bytes spends n from every one of them.
 * Receivers count the bytes of each sender's casts they deliver and, every `credits / 2`,
 * return them point to point. A cast waits in a FIFO queue until a majority of the view (this
 * member counted) has credit for it, and no member trails by more than `maxLagBytes`: so a
 * quorum sets the pace, as it does for ordering, and a slow member's backlog stays bounded (the
 * ordering's lag bound removes it first). With `quorum: false` every member must have credit
 * (the group runs at the speed of its slowest member). With `maxBlockMs`, the members a cast
 * waits for are reported down to membership as suspects (so it removes them) and up to the
 * application.
 *
 * A cast needs at most `credits / 2` available, even when it is larger (its full size is still
 * spent, credits may go negative): a receiver returns credit only after consuming `credits / 2`,
 * so a sender waiting for more than that could wait for a return that never comes.
 */
class Fc implements Layer {
  private viewId: number | undefined;
  /** Credits per other view member; absent before the first view (no throttling). */
  private credits = new Map<MemberId, number>();
  /** Bytes consumed per sender since the last credit returned to it. */
  private readonly consumed = new Map<MemberId, number>();
  private readonly queue: Queued[] = [];
  /** Members already reported as suspects while blocking the queue. */
  private readonly suspected = new Set<MemberId>();
  private blockedSince: number | undefined;
  private blockedMs = 0;
  private readonly c = { queuedTotal: 0, creditsSent: 0, creditsReceived: 0, staleCredits: 0, suspects: 0 };

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: FcOptions,
  ) {}

  private get threshold(): number {
    return Math.floor(this.o.credits / 2);
  }

  down(ev: DownEvent): void {
    switch (ev.type) {
      case 'cast': {
        if (ev.qos.order === 'unreliable') {
          this.ctx.passDown(downWith(ev, pushHeader(ev.msg, UNCOUNTED)));
          return;
        }
        const bytes = ev.msg.payload.length;
        // Before the first view there is nobody to account for; a queue keeps FIFO order.
        if (this.viewId === undefined || (this.queue.length === 0 && this.fits(bytes))) {
          this.send(ev.msg, ev.qos, bytes);
          return;
        }
        this.queue.push({ msg: ev.msg, qos: ev.qos, bytes, since: this.ctx.now() });
        this.c.queuedTotal++;
        if (this.queue.length === 1) this.blocked();
        return;
      }
      case 'send':
        this.ctx.passDown(downWith(ev, pushHeader(ev.msg, DATA)));
        return;
      case 'forget':
        this.consumed.delete(ev.member);
        this.ctx.passDown(ev);
        return;
      default:
        this.ctx.passDown(ev);
    }
  }

  private need(bytes: number): number {
    return Math.min(bytes, this.threshold);
  }

  /** Whether {@link holding} is empty, without building its list: asked per cast. */
  private fits(bytes: number): boolean {
    const need = this.need(bytes);
    let short = 0;
    for (const c of this.credits.values()) if (c < need) short++;
    if (short === 0) return true;
    if (!this.o.quorum) return false;
    const n = this.credits.size + 1;
    if ((n - short) * 2 <= n) return false; // holding() is every short member
    const floor = need - (this.o.maxLagBytes - this.o.credits);
    for (const c of this.credits.values()) if (c < need && c < floor) return false;
    return true;
  }

  /**
   * The members a cast of `bytes` waits for (none: it fits). Without `quorum`, every member
   * short of credit. With it, every member past the lag floor, and, if fewer than a majority
   * of the view have credit, the short ones (then no quorum keeps up: all of them hold it).
   */
  private holding(bytes: number): MemberId[] {
    const need = this.need(bytes);
    const short: MemberId[] = [];
    for (const [m, c] of this.credits) if (c < need) short.push(m);
    if (!this.o.quorum || short.length === 0) return short;
    const floor = need - (this.o.maxLagBytes - this.o.credits);
    const past = short.filter((m) => this.credits.get(m)! < floor);
    const n = this.credits.size + 1;
    const withCredit = n - short.length; // this member always counts
    return withCredit * 2 > n ? past : short;
  }

  private send(msg: Msg, qos: QoS, bytes: number): void {
    if (this.viewId !== undefined) for (const [m, c] of this.credits) this.credits.set(m, c - bytes);
    this.ctx.passDown({ type: 'cast', msg: pushHeader(msg, DATA), qos });
  }

  /** Send what the credits allow, in order. */
  private drain(): void {
    for (let head = this.queue[0]; head && this.fits(head.bytes); head = this.queue[0]) {
      this.queue.shift();
      this.send(head.msg, head.qos, head.bytes);
    }
    if (this.queue.length === 0 && this.blockedSince !== undefined) {
      this.blockedMs += this.ctx.now() - this.blockedSince;
      this.blockedSince = undefined;
      this.ctx.clearTimer('block');
    }
  }

  /** The queue just became non-empty. */
  private blocked(): void {
    this.blockedSince = this.ctx.now();
    if (this.o.maxBlockMs > 0) this.ctx.setTimer('block', this.o.maxBlockMs);
  }

  timer(key: string): void {
    if (key !== 'block') return;
    const head = this.queue[0];
    if (!head) return;
    const waited = this.ctx.now() - head.since;
    if (waited < this.o.maxBlockMs) {
      this.ctx.setTimer('block', this.o.maxBlockMs - waited);
      return;
    }
    for (const m of this.holding(head.bytes)) {
      if (this.suspected.has(m)) continue;
      this.suspected.add(m);
      this.c.suspects++;
      // Membership sits below: ask it to remove the member (the user bounded the wait), and tell
      // the application why.
      this.ctx.passDown({
        type: 'suspect',
        member: m,
        reason: `flow control blocked ${Math.round(waited)} ms`,
      });
      this.ctx.passUp({ type: 'suspect', member: m, silentMs: waited });
    }
    // Check again later: another member may become the one we wait for.
    this.ctx.setTimer('block', this.o.maxBlockMs);
  }

  up(ev: UpEvent): void {
    if (ev.type === 'view') {
      this.onView(ev.view);
      this.ctx.passUp(ev);
      return;
    }
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'fc');
    switch (kind) {
      case FcKind.Data:
        if (ev.cast && ev.from !== this.ctx.self) this.consume(ev.from, rest.payload.length);
        this.ctx.passUp(deliverWith(ev, rest));
        return;
      case FcKind.Uncounted:
        this.ctx.passUp(deliverWith(ev, rest));
        return;
      case FcKind.Credit:
        this.onCredit(ev.from, headerUint(h[1], 'fc', 'credit'));
        return;
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `fc: unknown kind ${kind}`);
    }
  }

  private consume(from: MemberId, bytes: number): void {
    const total = (this.consumed.get(from) ?? 0) + bytes;
    if (total < this.threshold) {
      this.consumed.set(from, total);
      return;
    }
    this.consumed.set(from, 0);
    this.c.creditsSent++;
    // Reliable, so a returned credit is never lost (a lost one would shrink the window for good).
    this.ctx.passDown({
      type: 'send',
      to: from,
      msg: { headers: [[FcKind.Credit, total]], payload: EMPTY },
      qos: { order: 'fifo' },
    });
  }

  private onCredit(from: MemberId, bytes: number): void {
    const c = this.credits.get(from);
    if (c === undefined) {
      // From a member no longer (or not yet) in our view: a race with a view change, not an attack.
      this.c.staleCredits++;
      return;
    }
    this.c.creditsReceived++;
    // Never more than the full window: a forged or duplicated credit cannot open the floodgates.
    this.credits.set(from, Math.min(this.o.credits, c + bytes));
    this.suspected.delete(from);
    this.drain();
  }

  private onView(view: View): void {
    this.viewId = view.id;
    const next = new Map<MemberId, number>();
    // A view change is a clean slate for every window. The view event reaches this layer only
    // after every cast of the old view was delivered here (flush, then total's view-end order),
    // and likewise at every other survivor: nothing of the old view is in flight any more. So
    // each member starts with a full window and counts consumption from zero; credits of the old
    // view still travelling (point-to-point messages are reliable only within their view) would
    // otherwise shrink a window for good.
    for (const m of view.members) if (m !== this.ctx.self) next.set(m, this.o.credits);
    this.credits = next;
    this.consumed.clear();
    const inView = new Set(view.members);
    for (const m of [...this.suspected]) if (!inView.has(m)) this.suspected.delete(m);
    // A departed slow member no longer holds anybody up. Deferred: the layers below pass the view
    // up before they release the casts they queued during the flush (casts fc already let through,
    // earlier in FIFO order than anything still queued here).
    this.ctx.defer(() => this.drain());
  }

  stats(): Record<string, number> {
    let min = this.o.credits;
    for (const c of this.credits.values()) min = Math.min(min, c);
    const blockedNow = this.blockedSince === undefined ? 0 : this.ctx.now() - this.blockedSince;
    return {
      ...this.c,
      queued: this.queue.length,
      queuedBytes: this.queue.reduce((n, q) => n + q.bytes, 0),
      blockedMs: this.blockedMs + blockedNow,
      creditsMin: min,
    };
  }
}

const EMPTY = new Uint8Array(0);

export const fc: LayerFactory<FcOptions> = {
  name: 'fc',
  provides: ['flow-control'],
  // fc counts delivered casts and returns credit for them; it belongs at the top of the stack,
  // above the total-order layer (whose delivery is the consumption that matters). Until the
  // 'total' layer exists, tests stack it on a pass-through stand-in that provides 'total'.
  requires: ['total'],
  create: (ctx, o) => {
    const opts = { ...DEFAULTS, ...o };
    // A window larger than the default lag allowance widens the allowance with it.
    if (o?.maxLagBytes === undefined && typeof opts.credits === 'number')
      opts.maxLagBytes = Math.max(DEFAULTS.maxLagBytes, opts.credits);
    if (!(typeof opts.credits === 'number' && Number.isSafeInteger(opts.credits) && opts.credits >= 2))
      throw new StackConfigError('STACK_BAD_OPTION', 'fc option credits must be an integer of at least 2');
    if (!(typeof opts.maxBlockMs === 'number' && Number.isFinite(opts.maxBlockMs) && opts.maxBlockMs >= 0))
      throw new StackConfigError('STACK_BAD_OPTION', 'fc option maxBlockMs must be a non-negative number');
    if (typeof opts.quorum !== 'boolean')
      throw new StackConfigError('STACK_BAD_OPTION', 'fc option quorum must be a boolean');
    if (
      !(
        typeof opts.maxLagBytes === 'number' &&
        Number.isSafeInteger(opts.maxLagBytes) &&
        opts.maxLagBytes >= opts.credits
      )
    )
      throw new StackConfigError(
        'STACK_BAD_OPTION',
        'fc option maxLagBytes must be an integer of at least credits',
      );
    return new Fc(ctx, opts);
  },
};
