import { headerTuple, headerUint } from '../../stack/header.js';
import type { MemberId } from '../../stack/member.js';
import { type DownEvent, detach, fromHeaders, type Msg, pushHeader, type QoS } from '../../stack/types.js';
import { dataHeader, GmsKind, heartbeatHeader, type ViewTag, viewTagHeader } from './codec.js';
import type { GmsShared } from './state.js';

/** What one sender of the current view has been received and delivered (vsync bookkeeping). */
export interface SenderLog {
  /** Next vseq to deliver up. */
  next: number;
  /** Received, by vseq: delivered ones are kept for forwarding until stable or the view ends. */
  held: Map<number, { msg: Msg; nakSeq: number | undefined }>;
}

/** A message tagged with a view not installed yet (data, point-to-point, unreliable). */
interface Early {
  kind: number;
  from: MemberId;
  h: unknown[];
  msg: Msg;
  nakSeq: number | undefined;
  cast: boolean;
}

/** What one held future message is counted as, on top of its payload and headers (bookkeeping). */
const FUTURE_OVERHEAD = 64;

/** Roughly what `v`, a decoded header value, holds: its bytes and strings, 8 per value. */
function sizeOf(v: unknown): number {
  if (v instanceof Uint8Array) return 8 + v.byteLength;
  if (typeof v === 'string') return 8 + 2 * v.length;
  if (!Array.isArray(v)) return 8;
  let n = 8;
  for (const x of v) n += sizeOf(x);
  return n;
}

/**
 * What a held message costs (payload, headers above gms and gms's own, bookkeeping), and the
 * message as held: its bytes copied out of the datagram. Counted as its payload alone, a
 * stranger's message with its bulk in headers (or a one-byte payload of a 64 KB datagram) held
 * up to a thousand times what the bound counted (2,000 of them: 60 MB under a 256 KB share).
 * Bounded: headers came through the msgpack guard.
 */
function forHolding(f: Early): { bytes: number; keep: () => Early } {
  const bytes = f.msg.payload.byteLength + sizeOf(f.msg.headers) + sizeOf(f.h) + FUTURE_OVERHEAD;
  const keep = (): Early => ({
    ...f,
    h: detach(f.h),
    msg: fromHeaders(detach(f.msg.headers), f.msg.payload.slice()),
  });
  return { bytes, keep };
}

/**
 * Virtually synchronous delivery, every member's data path: tags casts with the view (vseq),
 * delivers each sender's casts of the current view in order and keeps them for forwarding
 * until stable, stops at the cut during a flush, queues casts while blocked, and holds traffic
 * of a view not installed yet until it is.
 */
export class Delivery {
  /** Our next cast's vseq in the current view. */
  vseq = 0;
  logs = new Map<MemberId, SenderLog>();
  /** The nak seq our last cast came back with (a Digest reports the next one). */
  lastOwnNakSeq = -1;
  private blocked: { msg: Msg; qos: QoS }[] = [];
  private future: Early[] = [];
  private futureBytes = 0;
  private futureStrangerBytes = 0;
  /** Point-to-point and unreliable messages of the view kept while deliveries are held. */
  private heldTagged: Early[] = [];
  private heldTaggedBytes = 0;

  constructor(private readonly s: GmsShared) {}

  cast(ev: Extract<DownEvent, { type: 'cast' }>): void {
    const s = this.s;
    if (s.state === 'joining' && ev.qos.order !== 'unreliable') {
      this.blocked.push({ msg: ev.msg, qos: ev.qos }); // sent in the first view
      return;
    }
    if (s.state !== 'member' || !s.view) return;
    if (ev.qos.order === 'unreliable') {
      s.ctx.passDown({
        ...ev,
        msg: pushHeader(
          ev.msg,
          viewTagHeader.encode(GmsKind.Unreliable, { viewId: s.view.id, epoch: s.epoch }),
        ),
      });
      return;
    }
    if (s.participant.flush || s.participant.leaving) {
      this.blocked.push({ msg: ev.msg, qos: ev.qos });
      return;
    }
    this.castData(ev.msg, ev.qos);
  }

  send(to: MemberId, msg: Msg): void {
    const s = this.s;
    if (s.state !== 'member' || !s.view) return;
    s.send(to, viewTagHeader.encode(GmsKind.P2P, { viewId: s.view.id, epoch: s.epoch }), msg);
  }

  private castData(msg: Msg, qos: QoS): void {
    const s = this.s;
    const v = s.view!;
    s.ctx.passDown({
      type: 'cast',
      msg: pushHeader(msg, dataHeader.encode({ viewId: v.id, epoch: s.epoch, vseq: this.vseq++ })),
      qos,
    });
  }

  /** A new view: vseqs start over, the old view's logs are done with. */
  newView(): void {
    this.vseq = 0;
    this.logs = new Map();
  }

  /** Send the casts queued while joining or blocked, now in the new view. */
  releaseBlocked(): void {
    const queued = this.blocked;
    this.blocked = [];
    for (const b of queued) this.castData(b.msg, b.qos);
  }

  /** Take the traffic that arrived ahead of the view just installed; false if this member
   * stopped on the way (the rest is dropped). */
  replayFuture(): boolean {
    const early = this.future;
    this.future = [];
    this.futureBytes = 0;
    this.futureStrangerBytes = 0;
    for (const f of early) {
      if (this.s.state !== 'member') return false;
      if (f.kind === GmsKind.Data) this.onData(f.from, f.h, f.msg, f.nakSeq);
      else this.onViewTagged(f.kind, f.from, f.h, f.msg, f.cast);
    }
    return true;
  }

  /** The member stopped: nothing queued or held ahead will be sent or delivered. */
  clear(): void {
    this.blocked = [];
    this.heldTagged = [];
    this.heldTaggedBytes = 0;
    this.future = [];
    this.futureBytes = 0;
    this.futureStrangerBytes = 0;
  }

  /** Heartbeats, unreliable casts and point-to-point messages: tagged with the view, not flushed. */
  onViewTagged(kind: number, from: MemberId, h: unknown[], rest: Msg, cast: boolean): void {
    const s = this.s;
    const { viewId, epoch }: ViewTag = viewTagHeader.decode(h);
    if (!s.view || viewId > s.view.id) {
      if (!s.plausibleLead(viewId)) return;
      if (s.view) s.claims.noteAhead(from);
      // A state transfer or reply may beat the install to us: keep it for that view.
      if (kind !== GmsKind.Heartbeat)
        this.keepForLater({ kind, from, h, msg: rest, nakSeq: undefined, cast });
      return;
    }
    // A member of our view still in the view before it: it answered the flush that made ours but
    // its Install was lost (its coordinator crashed). Nothing else reaches it (its heartbeats
    // count for nobody, it ignores Prepares past the next view): send it our Install, as for a
    // Join from a member (rate-limited there). Heartbeats are casts: only the two lowest-ranked
    // members we do not suspect answer (the coordinator may be the one that crashed), not all
    // n − 1 with a view-sized Install each.
    if (kind === GmsKind.Heartbeat && viewId === s.view.id - 1 && s.rank(from) >= 0) {
      const answering = s.view.members.filter((m) => m !== from && !s.suspected.has(m)).slice(0, 2);
      if (answering.includes(s.self)) s.coordinator.resendInstall(from);
    }
    if (viewId < s.view.id || epoch !== s.epoch || s.rank(from) < 0) return;
    s.claims.heard(from);
    if (kind === GmsKind.Heartbeat) {
      const hb = heartbeatHeader.decode(h);
      s.detector.heardNonce(from, hb.nonce);
      s.coordinator.onHeartbeat(from, hb);
      return;
    }
    // Held with the casts after a long stop (FailureDetector.holding): a drained query answered
    // from a dead view is a stale read.
    if (s.detector.holding(s.ctx.now())) {
      this.holdTagged({ kind, from, h, msg: rest, nakSeq: undefined, cast });
      return;
    }
    s.ctx.passUp({
      type: 'deliver',
      msg: rest,
      from,
      cast,
      meta: {
        seq: undefined,
        viewId,
        gseq: undefined,
        qos: undefined,
        // Unnumbered: the layers above take nothing from it but an unreliable cast (review37).
        unreliable: kind === GmsKind.Unreliable,
      },
    });
  }

  /** Keep a point-to-point or unreliable message of this view while deliveries are held; past
   * the future buffer's bounds it is dropped (neither is repaired across a view anyway). */
  private holdTagged(f: Early): void {
    const s = this.s;
    const { bytes, keep } = forHolding(f);
    if (this.heldTagged.length >= s.o.maxFuture || this.heldTaggedBytes + bytes > s.o.maxFutureBytes) {
      s.c.futureDropped++;
      return;
    }
    this.heldTagged.push(keep());
    this.heldTaggedBytes += bytes;
  }

  /** The hold ended: deliver the casts it kept, then the other messages, as if they came now. */
  releaseHeld(): void {
    this.drainAll();
    const kept = this.heldTagged;
    this.heldTagged = [];
    this.heldTaggedBytes = 0;
    for (const f of kept) {
      if (this.s.state !== 'member') return;
      this.onViewTagged(f.kind, f.from, f.h, f.msg, f.cast);
    }
  }

  private keepForLater(f: Early): void {
    const s = this.s;
    const { bytes, keep } = forHolding(f);
    // Anyone can claim a later view, so strangers (not in our view) get only a share of the
    // bytes: they cannot crowd out what members of our view send ahead of an install.
    const stranger = !s.view || s.rank(f.from) < 0;
    if (
      this.future.length >= s.o.maxFuture ||
      this.futureBytes + bytes > s.o.maxFutureBytes ||
      (stranger && this.futureStrangerBytes + bytes > s.o.maxFutureBytes / 4)
    ) {
      s.c.futureDropped++;
      return;
    }
    this.futureBytes += bytes;
    if (stranger) this.futureStrangerBytes += bytes;
    this.future.push(keep());
  }

  onData(from: MemberId, h: unknown[], msg: Msg, nakSeq: number | undefined): void {
    const s = this.s;
    // dataHeader.decode's checks, without its object per message.
    headerTuple(h, 'gms', 4);
    const viewId = headerUint(h[1], 'gms', 'viewId');
    const epoch = headerUint(h[2], 'gms', 'epoch');
    const vseq = headerUint(h[3], 'gms', 'vseq');
    if (!s.view || viewId > s.view.id) {
      if (!s.plausibleLead(viewId)) return;
      if (s.view) s.claims.noteAhead(from);
      this.keepForLater({ kind: GmsKind.Data, from, h, msg, nakSeq, cast: true });
      return;
    }
    if (viewId < s.view.id || epoch !== s.epoch || s.rank(from) < 0) {
      s.c.staleDropped++;
      return;
    }
    s.claims.heard(from);
    this.accept(from, vseq, msg, nakSeq);
  }

  /** Take a message of the current view (from its sender or forwarded), deliver what is in order. */
  accept(from: MemberId, vseq: number, msg: Msg, nakSeq: number | undefined): void {
    const l = this.log(from);
    if (vseq < l.next || l.held.has(vseq)) return;
    // Past the cut of the running flush attempt it is held, not delivered (drainLog stops at the
    // cut): the attempt may be abandoned and the next one's cut may include it. Nothing below
    // will resend it, since the stream layer already counts it delivered everywhere.
    l.held.set(vseq, { msg, nakSeq });
    this.s.c.heldHighWater = Math.max(this.s.c.heldHighWater, l.held.size);
    this.drainLog(from, l);
    if (this.s.participant.flush?.cut) this.s.participant.checkDone();
  }

  drainAll(): void {
    for (const [m, l] of this.logs) this.drainLog(m, l);
  }

  private drainLog(from: MemberId, l: SenderLog): void {
    const p = this.s.participant;
    // After reporting a digest and before the cut is known, nothing more is delivered: the cut
    // may end the view before it.
    if (p.flush && !p.flush.cut && p.digestSent) return;
    if (this.s.detector.holding(this.s.ctx.now())) return;
    const cut = p.flush?.cut;
    const limit = cut ? (cut.get(from) ?? -1) : Number.POSITIVE_INFINITY;
    for (let e = l.held.get(l.next); e !== undefined && l.next <= limit; e = l.held.get(l.next)) {
      l.next++;
      this.s.ctx.passUp({
        type: 'deliver',
        msg: e.msg,
        from,
        cast: true,
        meta: { seq: e.nakSeq, viewId: this.s.view!.id, gseq: undefined, qos: undefined },
      });
    }
  }

  private log(m: MemberId): SenderLog {
    let l = this.logs.get(m);
    if (!l) {
      l = { next: 0, held: new Map() };
      this.logs.set(m, l);
    }
    return l;
  }

  /** Highest vseq held contiguously from 0 for a sender, or -1. */
  contiguous(m: MemberId): number {
    const l = this.logs.get(m);
    if (!l) return -1;
    let k = l.next;
    while (l.held.has(k)) k++;
    return k - 1;
  }

  onStable(seqs: ReadonlyMap<MemberId, number>): void {
    // Messages every member holds need no forwarding in a flush.
    for (const [m, upTo] of seqs) {
      const l = this.logs.get(m);
      if (!l) continue;
      // forEach rather than for-of over entries: no [vseq, e] pair per held message per stable
      // event. Deleting the entry being visited is allowed in both.
      const held = l.held;
      const next = l.next;
      held.forEach((e, vseq) => {
        if (vseq < next && e.nakSeq !== undefined && e.nakSeq <= upTo) held.delete(vseq);
      });
    }
  }

  /** Messages held in the logs (for forwarding), and ahead of the view. */
  counts(): { held: number; future: number } {
    let held = 0;
    for (const l of this.logs.values()) held += l.held.size;
    return { held, future: this.future.length };
  }
}
