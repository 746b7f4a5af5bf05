import { createHmac } from 'node:crypto';
import { StackConfigError } from '../errors.js';
import { headerString, headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import { requirePositive } from '../stack/options.js';
import {
  type DownEvent,
  deliverWith,
  downWith,
  type Layer,
  type LayerContext,
  type LayerFactory,
  type Msg,
  pushHeader,
  type UpEvent,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** Header kinds of the nak layer (first element of its header). */
export const NakKind = {
  /** [0] unreliable: delivered 0..n times, no sequence. */
  Unreliable: 0,
  /** [1, channel, seq] a message of a reliable stream; [1, 1, seq, receiver] on a point-to-point one. */
  Data: 1,
  /** [2, channel, nonce, from, to, from, to, ...] the receiver misses these sequence ranges;
   * nonce: the receiver's for this stream, which a Gone must echo. */
  Nak: 2,
  /** [3, channel, lastSeq] (+ receiver on channel 1) the sender's stream has reached lastSeq (trailing-loss repair). */
  Session: 3,
  /** [4, channel, firstAvailable, nonce] what was asked for is no longer buffered (echoing the NAK's nonce). */
  Gone: 4,
  /** [5, 0, origin, from, to, ...] to another member: the receiver misses these ranges of
   * origin's cast stream and origin's own repairs have not reached it. */
  NakFor: 5,
  /** [6, 0, origin, seq] message seq of origin's cast stream, resent by a member that holds it. */
  Repair: 6,
  /** [7, channel, nonce] receiver → sender: where does your stream (on channel 1: to me) begin?
   * Sent for a stream whose origin the receiver does not know yet. */
  Sync: 7,
  /** [8, channel, nonce, origin] sender → receiver: the answer, echoing the Sync's nonce. */
  Origin: 8,
} as const;

/** The header of an unreliable message: one array for all (nothing writes to a header). */
const UNRELIABLE: readonly unknown[] = Object.freeze([NakKind.Unreliable]);

/** Channel 0: the sender's cast stream; channel 1: its point-to-point stream to the receiver. */
const CAST = 0;
const P2P = 1;

export interface NakOptions {
  /** NAK after a random delay in [nakMinMs, nakMaxMs] (AFDP/RMP), so receivers that miss the
   * same packet do not all ask at once. */
  nakMinMs: number;
  nakMaxMs: number;
  /** Repeated NAKs back off up to this interval. Small: over a lossy link every round of
   * repair is another chance, and a long wait between rounds is what starves a receiver. */
  nakBackoffMaxMs: number;
  /** A session message follows a burst after this idle time, then backs off to sessionMaxMs. */
  sessionMinMs: number;
  sessionMaxMs: number;
  /** While a stable layer above reports part of the cast stream not yet held by every member,
   * session messages stay at most this far apart: someone misses a trailing message, and over a
   * lossy link only another announcement tells it. */
  sessionUnstableMs: number;
  /** The same packet is not retransmitted twice within this interval. */
  retransmitGuardMs: number;
  /** Retransmission buffer bound (messages per stream); the oldest are evicted past it. */
  maxBuffer: number;
  /** Out-of-order messages held per stream; more are dropped (and NAKed again later). */
  maxPending: number;
  /** Largest number of ranges one NAK carries. */
  maxNakRanges: number;
  /** Most messages one NAK makes the sender resend (the receiver NAKs again for the rest). */
  maxRetransmitsPerNak: number;
  /** Incoming streams kept from senders outside the current view (joiners, and before the first
   * view everyone); past it the least recently heard one is dropped. */
  maxStrangers: number;
  /** Out-of-order bytes held per incoming stream from a sender outside the view. */
  maxStrangerBytes: number;
  /** Out-of-order bytes held over all incoming streams, members' included. */
  maxPendingBytes: number;
  /** Other members' casts kept per sender until stable, so that a member may repair a receiver
   * whose link from the sender is bad; past it the oldest are dropped. */
  maxHeld: number;
  /** Payload bytes of those copies kept per sender; past it the oldest are dropped. */
  maxHeldBytes: number;
  /**
   * Each stream begins at a random position below 2^48, which a receiver learns from the sender
   * by a Sync/Origin round trip echoing a nonce (or from a join point). Without a key, a forger
   * who can spoof a member's source address but not read its traffic must then guess where the
   * stream stands: one datagram in nak's window of `maxPending` positions, at 0..2,000 of a young
   * group's streams, put a forged Leave or Install in a member's place (FINDINGS 206, 207). Off:
   * every stream begins at 0 and receivers assume so (only for tests that write packets by hand).
   * Every member of a group must use the same setting.
   */
  randomOrigins: boolean;
  /**
   * The secret origins are derived from (hex). The group driver gives one from node:crypto;
   * without it, one is drawn from the injected random source (simulations).
   */
  originSecret?: string;
}

const DEFAULTS: NakOptions = {
  nakMinMs: 2,
  nakMaxMs: 20,
  nakBackoffMaxMs: 100,
  sessionMinMs: 20,
  sessionMaxMs: 1000,
  sessionUnstableMs: 100,
  retransmitGuardMs: 10,
  maxBuffer: 100_000,
  maxPending: 10_000,
  maxNakRanges: 32,
  maxRetransmitsPerNak: 512,
  maxStrangers: 64,
  maxStrangerBytes: 256 * 1024,
  maxPendingBytes: 64 * 1024 * 1024,
  maxHeld: 4096,
  maxHeldBytes: 8 * 1024 * 1024,
  randomOrigins: true,
};

/** Random stream origins lie below 2^48: 2^48 / maxPending ≈ 2.8·10^10 guesses per hit, and
 * 2^5 times that much room before the numbers leave the safe integers. */
const ORIGIN_SPAN = 2 ** 48;

interface OutStream {
  channel: number;
  /** Destination for a point-to-point stream; null for the cast stream. */
  to: MemberId | null;
  /** Where the stream began: what a receiver that asks (Sync) starts from. */
  start: number;
  nextSeq: number;
  /** Oldest sequence still buffered. */
  base: number;
  buffer: Map<number, Msg>;
  lastSent: Map<number, number>;
  sessionDelay: number;
  /** The name of its session timer (built once: it is re-armed per message). */
  sessionKey: string;
}

/** Copies of another member's casts, kept to repair receivers it cannot reach (SRM-style). */
interface Held {
  base: number;
  /** Newest sequence held (copies are taken in delivery order). */
  top: number;
  msgs: Map<number, Msg>;
  lastSent: Map<number, number>;
  /** Payload bytes in `msgs`. */
  bytes: number;
}

interface InStream {
  from: MemberId;
  channel: number;
  /** The name of its NAK timer, `nak:<from>|<channel>` (built once: it is armed or cleared per
   * message). */
  nakKey: string;
  next: number;
  highest: number;
  pending: Map<number, Msg>;
  /** Payload bytes held in `pending`. */
  bytes: number;
  nakDelay: number;
  /** `next` when the last NAK went out: progress since then resets the backoff. */
  nakedAt: number;
  /** NAK rounds in a row that asked for more than any message held shows (see {@link CLAIM_ROUNDS}). */
  fruitless: number;
  nakArmed: boolean;
  /**
   * Where the stream begins is not known yet: `next` and `highest` mean nothing, and what comes
   * is held by its number, unchecked, until a Sync is answered (or a join point says).
   */
  unsynced: boolean;
  /** Sent to the sender only (in Syncs and NAKs): an Origin or a Gone must echo it. 0 when
   * origins are not random. */
  nonce: number;
  /** A Sync retry is scheduled (at most one Sync per `nakMaxMs`; see {@link Nak.askOrigin}). */
  syncArmed: boolean;
  /** Syncs sent for this stream. */
  syncRounds: number;
}

/**
 * NAK: per-sender reliable FIFO streams. Gaps are detected by sequence number and repaired by
 * negative acknowledgement after a random delay; the sender retransmits a cast to the whole
 * group (others that missed it benefit) and a point-to-point message to its receiver.
 * Session messages after a burst expose trailing losses. Duplicates are suppressed.
 */
class Nak implements Layer {
  private readonly out = new Map<string, OutStream>();
  private readonly inn = new Map<string, InStream>();
  /** The streams of {@link inn} by sender, one map per channel (CAST, P2P): a member's stream is
   * found per message without building its `from|channel` key. Changed only with `inn`. */
  private readonly innByFrom: readonly Map<MemberId, InStream>[] = [new Map(), new Map()];
  /** Where forgotten streams stood: a member forgotten and met again (a joiner removed before it
   * installed, then re-added) continues its numbering instead of restarting at 0, which its peer
   * would take for duplicates. Bounded: the oldest tombstones go first. */
  private readonly tombstones = new Map<string, number>();
  /** Where stranger streams dropped to stay within `maxStrangers` stood (see `inStream`), by
   * stream key; bounded, the oldest go first. */
  private readonly strangerTombs = new Map<string, number>();
  private readonly c = {
    sent: 0,
    delivered: 0,
    duplicates: 0,
    naksSent: 0,
    retransmits: 0,
    evicted: 0,
    lost: 0,
    misdirected: 0,
    bufferHighWater: 0,
    /** Out-of-order messages dropped because a byte cap was reached (NAKed again later). */
    pendingCapped: 0,
    /** Streams of senders outside the view dropped to stay within `maxStrangers`. */
    strangersEvicted: 0,
    /** NAKs sent to another member for a sender's stream, after the sender's repairs were lost. */
    naksForwarded: 0,
    /** Messages of other senders resent to a receiver that asked us. */
    repairsForOthers: 0,
    /** NAKs for our casts from senders outside the view, ignored (they would re-cast to everyone). */
    strangerNaks: 0,
    /** Syncs sent: streams whose origin we asked for. */
    syncsSent: 0,
    /** Syncs for our cast stream from senders outside the view, not answered (the origin is
     * what keeps a forger from guessing where the stream stands). */
    strangerSyncs: 0,
    /** Origins and Gones that did not echo the stream's nonce (sent only in our Syncs and NAKs), refused. */
    echoesRefused: 0,
    /** NAK ranges from below where our stream began, not served (a forger's: see `onNak`). */
    naksBelowOrigin: 0,
    /** Gaps only a Session claimed, dropped after `CLAIM_ROUNDS` NAK rounds (a forged claim, or
     * a true one not yet repaired, which its sender's next announcement raises again). */
    claimsDropped: 0,
    /** Members' streams whose Syncs went unanswered `SYNC_ROUNDS` times: what they held was
     * dropped, and they are asked again only when more of them comes. */
    syncsAbandoned: 0,
    /** Syncs not sent: the sender is outside the view and its address is not pinned (a cast
     * stream's position comes from a join point, or a Sync once the sender is in the view; a
     * point-to-point one before a view, from a Sync once membership pins the sender). */
    syncsWithheld: 0,
    /** Origins from a sender outside the view for a stream we may not ask it for, refused. */
    strangerOrigins: 0,
  };
  /** Other members' casts, by sender, until stable. */
  private readonly held = new Map<string, Held>();
  /** Members of the latest view passed down; senders outside it are strangers. */
  private members = new Set<string>();
  /** Incoming stream keys of strangers, least recently heard first. */
  private readonly strangers = new Map<string, true>();
  /** Payload bytes held out of order over all incoming streams. */
  private pendingBytes = 0;
  /** A stable layer above tells us what every member holds of our cast stream. */
  private stableSeen = false;
  /** Key of the origins' and nonces' hash (see {@link origin}). */
  private secret: string | undefined;
  /** Nonces made so far (see {@link newNonce}). */
  private nonces = 0;
  /** A layer above asked where our cast stream stands (`castNext`): it gives join points, and a
   * stranger's cast stream waits for one (see {@link mayAsk}). */
  private joinPoints = false;
  /** Before the first view: senders whose address membership proved (`pin`), with it, least
   * recently pinned first. Only their point-to-point streams are asked for (see {@link mayAsk}). */
  private readonly pins = new Map<MemberId, string>();

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: NakOptions,
  ) {}

  private outStream(to: MemberId | null): OutStream {
    const key = to ?? '*';
    let s = this.out.get(key);
    if (!s) {
      const start = this.startOf(key);
      s = {
        channel: to === null ? CAST : P2P,
        to,
        start,
        nextSeq: start,
        base: start,
        buffer: new Map(),
        lastSent: new Map(),
        sessionDelay: this.o.sessionMinMs,
        sessionKey: `session:${key}`,
      };
      this.out.set(key, s);
    }
    return s;
  }

  /**
   * Where a new outgoing stream (`'*'`: the cast stream; else its receiver) begins (see
   * {@link NakOptions.randomOrigins}). A keyed hash, not a draw, so that a Sync is answered
   * before the stream exists, without keeping anything for the asker: a receiver asks as soon
   * as it meets a sender (a discovery packet, a view), and the founding and join handshakes do
   * not wait a round trip more (at 140 ms one way, founding proposals expired first).
   */
  private origin(key: string): number {
    if (!this.o.randomOrigins) return 0;
    return this.keyed(`origin|${key}`) % ORIGIN_SPAN;
  }

  /** Where our stream to `to` (`'*'`: the cast stream) begins, or would if we sent on it now. */
  private startOf(key: string): number {
    return this.out.get(key)?.start ?? this.tombstones.get(`out|${key}`) ?? this.origin(key);
  }

  /**
   * Asks `member` where its streams to us begin before any of them comes: its point-to-point
   * one, and (`cast`) its cast stream. Learnt by the time the first message comes, it is not
   * held back a round trip.
   */
  private meet(member: MemberId, cast: boolean): void {
    if (member === this.ctx.self || !this.o.randomOrigins) return;
    for (const ch of cast ? [P2P, CAST] : [P2P]) {
      if (this.inn.has(`${member}|${ch}`)) continue;
      this.askOrigin(this.inStream(member, ch));
    }
  }

  /**
   * `member` joined our view, or membership proved its address before one (`pin`): com pins its
   * address now. What we sent it while it was a stranger
   * (Syncs, NAKs) may have gone to whoever spoke in its id, so its streams take new nonces (an
   * Origin or a Gone echoing an old one is refused), and one still waiting for its origin is
   * asked again at once, at the pinned address.
   */
  private pinned(member: MemberId): void {
    if (member === this.ctx.self || !this.o.randomOrigins) return;
    for (const ch of [CAST, P2P]) {
      const s = this.inn.get(`${member}|${ch}`);
      if (!s) continue;
      s.nonce = this.newNonce();
      if (!s.unsynced) continue;
      s.syncArmed = false;
      s.syncRounds = 0;
      this.ctx.clearTimer(`sync:${member}|${ch}`);
      this.askOrigin(s);
    }
  }

  private inStream(from: MemberId, channel: number): InStream {
    // A view member's stream, once made: what the rest would find, without building the key.
    const known = this.innByFrom[channel]!.get(from);
    if (known && this.members.has(from)) return known;
    const key = `${from}|${channel}`;
    let s = this.inn.get(key);
    if (!this.members.has(from)) {
      // Anyone who can reach the port can claim a sender id: streams of senders outside the view
      // are few and small, and the least recently heard goes first.
      this.strangers.delete(key);
      this.strangers.set(key, true);
      while (this.strangers.size > this.o.maxStrangers) {
        const old = this.strangers.keys().next().value!;
        this.strangers.delete(old);
        // Where it stood is kept: started again at 0, the stream took the sender's
        // retransmission of what it had delivered for new (a joiner's point-to-point message
        // delivered twice once 64 invented senders pushed its stream out). Apart from the
        // members' tombstones, which invented senders must not push out.
        const gone = this.inn.get(old);
        if (gone && !gone.unsynced) {
          this.strangerTombs.delete(old);
          this.strangerTombs.set(old, gone.next);
          if (this.strangerTombs.size > MAX_STRANGER_TOMBSTONES)
            this.strangerTombs.delete(this.strangerTombs.keys().next().value!);
        }
        this.dropIn(old);
        this.c.strangersEvicted++;
      }
    }
    if (!s) {
      const known = this.tombstones.get(`in|${key}`) ?? this.strangerTombs.get(key);
      const next = known ?? 0;
      this.strangerTombs.delete(key);
      s = {
        from,
        channel,
        nakKey: `nak:${key}`,
        next,
        highest: next - 1,
        pending: new Map(),
        bytes: 0,
        nakDelay: 0,
        nakedAt: -1,
        fruitless: 0,
        nakArmed: false,
        unsynced: known === undefined && this.o.randomOrigins,
        nonce: this.o.randomOrigins ? this.newNonce() : 0,
        syncArmed: false,
        syncRounds: 0,
      };
      this.inn.set(key, s);
      this.innByFrom[channel]!.set(from, s);
    }
    return s;
  }

  /** Drops an incoming stream and what it holds. */
  private dropIn(key: string): void {
    const s = this.inn.get(key);
    if (!s) return;
    this.pendingBytes -= s.bytes;
    this.inn.delete(key);
    this.innByFrom[s.channel]!.delete(s.from);
    this.ctx.clearTimer(`nak:${key}`);
    this.ctx.clearTimer(`sync:${key}`);
  }

  /** Takes message `k` out of what `s` holds out of order, with its bytes. */
  private unhold(s: InStream, k: number, m: Msg): void {
    s.pending.delete(k);
    const size = msgBytes(m);
    s.bytes -= size;
    this.pendingBytes -= size;
  }

  /** Drops what an incoming stream holds out of order. */
  private releasePending(s: InStream): void {
    this.pendingBytes -= s.bytes;
    s.bytes = 0;
    s.pending.clear();
  }

  /**
   * A 52-bit nonce (a safe integer, so a header carries it as a number): a keyed hash of a
   * counter under the origins' secret, not a draw of the injected source, whose state a stranger
   * sent one of our Syncs could search for (a small, fast generator, not a cryptographic one).
   */
  private newNonce(): number {
    return this.keyed(`nonce|${this.nonces++}`);
  }

  /** 52 bits of HMAC-SHA256 under the secret of {@link origin}, as a number. */
  private keyed(what: string): number {
    this.secret ??=
      this.o.originSecret ??
      Array.from({ length: 4 }, () =>
        Math.floor(this.ctx.random() * 2 ** 32)
          .toString(16)
          .padStart(8, '0'),
      ).join('');
    const h = createHmac('sha256', this.secret).update(`${this.ctx.self}|${what}`).digest();
    return h.readUIntBE(0, 6) * 2 ** 4 + (h[6]! >>> 4);
  }

  /** Data and session headers of a point-to-point stream name the receiver. */
  private dataHeader(s: OutStream, seq: number): unknown[] {
    return s.to === null ? [NakKind.Data, CAST, seq] : [NakKind.Data, P2P, seq, s.to];
  }

  /**
   * A point-to-point packet for another member: a late packet for an earlier incarnation that
   * lived at this address. Taking it would corrupt our stream from that sender.
   */
  private misdirected(channel: number, h: unknown[]): boolean {
    if (channel !== P2P) return false;
    if (headerString(h[3], 'nak', 'receiver') === this.ctx.self) return false;
    this.c.misdirected++;
    return true;
  }

  private bury(key: string, next: number): void {
    this.tombstones.delete(key);
    this.tombstones.set(key, next);
    if (this.tombstones.size > MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  private transmit(s: OutStream, header: unknown[], msg: Msg): void {
    const m = pushHeader(msg, header);
    if (s.to === null) this.ctx.passDown({ type: 'cast', msg: m, qos: { order: 'fifo' } });
    else this.ctx.passDown({ type: 'send', to: s.to, msg: m, qos: { order: 'fifo' } });
  }

  private control(to: MemberId, header: unknown[]): void {
    this.ctx.passDown({
      type: 'send',
      to,
      msg: { headers: [header], payload: EMPTY },
      qos: { order: 'unreliable' },
    });
  }

  down(ev: DownEvent): void {
    switch (ev.type) {
      case 'cast':
      case 'send': {
        if (ev.qos.order === 'unreliable') {
          this.ctx.passDown(downWith(ev, pushHeader(ev.msg, UNRELIABLE)));
          return;
        }
        const s = this.outStream(ev.type === 'cast' ? null : ev.to);
        const seq = s.nextSeq++;
        s.buffer.set(seq, ev.msg);
        s.lastSent.set(seq, this.ctx.now());
        while (s.buffer.size > this.o.maxBuffer) {
          s.buffer.delete(s.base);
          s.lastSent.delete(s.base);
          s.base++;
          this.c.evicted++;
        }
        this.c.bufferHighWater = Math.max(this.c.bufferHighWater, s.buffer.size);
        this.c.sent++;
        this.transmit(s, this.dataHeader(s, seq), ev.msg);
        s.sessionDelay = this.o.sessionMinMs;
        this.ctx.setTimer(s.sessionKey, s.sessionDelay);
        return;
      }
      case 'stable': {
        this.stableSeen = true;
        for (const [member, upTo] of ev.seqs) {
          const h = this.held.get(member);
          if (h) this.release(h, upTo + 1);
        }
        const s = this.out.get('*');
        const upTo = ev.seqs.get(this.ctx.self);
        if (!s || upTo === undefined) return;
        while (s.base <= upTo && s.base < s.nextSeq) {
          s.buffer.delete(s.base);
          s.lastSent.delete(s.base);
          s.base++;
        }
        return;
      }
      case 'expect': {
        const s = this.inStream(ev.member, CAST);
        if (s.unsynced) {
          // 0 is a digest's "cast nothing yet" (gms counts from its own delivered casts): the
          // origin then comes by Sync. A random origin is 0 once in 2^48.
          if (ev.seq !== 0) this.settle(s, ev.seq);
        } else if (s.next < ev.seq) this.skipTo(s, ev.seq, false);
        return;
      }
      case 'view': {
        const before = this.members;
        this.members = new Set(ev.view.members);
        this.pins.clear();
        for (const m of ev.view.members) for (const ch of [CAST, P2P]) this.strangers.delete(`${m}|${ch}`);
        // com pins the view's addresses first: what follows goes to them.
        this.ctx.passDown(ev);
        for (const m of ev.view.members) if (!before.has(m)) this.pinned(m);
        for (const m of ev.view.members) this.meet(m, true);
        return;
      }
      case 'pin': {
        if (ev.member === this.ctx.self || this.members.size > 0) return;
        const had = this.pins.get(ev.member);
        this.pins.delete(ev.member);
        // One id an address: ids a forger proves at its own address replace each other there.
        for (const [m, a] of this.pins) if (a === ev.address) this.pins.delete(m);
        this.pins.set(ev.member, ev.address);
        if (this.pins.size > this.o.maxStrangers) this.pins.delete(this.pins.keys().next().value!);
        // com pins the address first: the Syncs that follow go there. A pin renewed at the same
        // address changes nothing: new nonces then would refuse the Origin on its way. A pin moved
        // elsewhere (to an anchor) drops what came from the first: it was a forger's.
        this.ctx.passDown(ev);
        if (had === ev.address) return;
        if (had !== undefined)
          for (const ch of [CAST, P2P]) {
            const key = `${ev.member}|${ch}`;
            this.dropIn(key);
            this.strangers.delete(key);
            this.strangerTombs.delete(key);
          }
        this.pinned(ev.member);
        this.meet(ev.member, false);
        return;
      }
      case 'castNext':
        this.joinPoints = true;
        this.ctx.passUp({ type: 'castNext', seq: this.out.get('*')?.nextSeq ?? this.startOf('*') });
        return;
      case 'forget': {
        for (const ch of [CAST, P2P]) {
          const key = `${ev.member}|${ch}`;
          const s = this.inn.get(key);
          const next = s ? (s.unsynced ? undefined : s.next) : this.strangerTombs.get(key);
          if (next !== undefined) this.bury(`in|${key}`, next);
          this.strangerTombs.delete(key);
          this.dropIn(key);
          this.strangers.delete(key);
        }
        this.held.delete(ev.member);
        this.pins.delete(ev.member);
        const o = this.out.get(ev.member);
        if (o) this.bury(`out|${ev.member}`, o.nextSeq);
        this.out.delete(ev.member);
        this.ctx.clearTimer(`session:${ev.member}`);
        this.ctx.passDown(ev);
        return;
      }
      default:
        this.ctx.passDown(ev);
    }
  }

  up(ev: UpEvent): void {
    if (ev.type !== 'deliver') {
      // A joiner's or a seed's first packets: its stream to us will follow (Here, Found, Install).
      if (ev.type === 'discovery') this.meet(ev.from, false);
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest: msg } = popKindHeader(ev.msg, 'nak');
    if (kind === NakKind.Unreliable) {
      this.ctx.passUp(deliverWith(ev, msg));
      return;
    }
    const channel = headerUint(h[1], 'nak', 'channel');
    if (channel !== CAST && channel !== P2P) throw new DecodeError('DECODE_BAD_SHAPE', 'nak: bad channel');
    switch (kind) {
      case NakKind.Data:
        if (this.misdirected(channel, h)) return;
        this.onData(ev.from, channel, headerUint(h[2], 'nak', 'seq'), msg, channel === CAST);
        return;
      case NakKind.Nak:
        this.onNak(ev.from, channel, headerUint(h[2], 'nak', 'nonce'), h.slice(3));
        return;
      case NakKind.Session:
        if (this.misdirected(channel, h)) return;
        this.onSession(ev.from, channel, headerUint(h[2], 'nak', 'seq'));
        return;
      case NakKind.Gone:
        this.onGone(ev.from, channel, headerUint(h[2], 'nak', 'seq'), headerUint(h[3], 'nak', 'nonce'));
        return;
      case NakKind.NakFor:
        this.onNakFor(ev.from, headerString(h[2], 'nak', 'origin'), h.slice(3));
        return;
      case NakKind.Repair:
        this.onRepair(ev.from, headerString(h[2], 'nak', 'origin'), headerUint(h[3], 'nak', 'seq'), msg);
        return;
      case NakKind.Sync:
        this.onSync(ev.from, channel, headerUint(h[2], 'nak', 'nonce'));
        return;
      case NakKind.Origin:
        this.onOrigin(ev.from, channel, headerUint(h[2], 'nak', 'nonce'), headerUint(h[3], 'nak', 'origin'));
        return;
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `nak: unknown kind ${kind}`);
    }
  }

  private onData(from: MemberId, channel: number, seq: number, msg: Msg, cast: boolean): void {
    const s = this.inStream(from, channel);
    const unknown = s.unsynced;
    if ((!unknown && seq < s.next) || s.pending.has(seq)) {
      this.c.duplicates++;
      return;
    }
    if (unknown) {
      // Held by its number until the origin is known, which then decides what of it is taken.
      this.askOrigin(s);
      if (s.pending.size >= this.o.maxPending) return;
    } else if (seq > s.next + this.o.maxPending)
      return; // too far ahead to hold; NAKed again later
    else s.highest = Math.max(s.highest, seq);
    if (!unknown && seq === s.next) {
      this.deliver(s, seq, msg, cast);
      this.drain(s, cast);
    } else {
      const size = msgBytes(msg);
      const streamCap = this.members.has(s.from) ? Number.POSITIVE_INFINITY : this.o.maxStrangerBytes;
      if (s.bytes + size > streamCap || this.pendingBytes + size > this.o.maxPendingBytes) {
        // Dropping out-of-order data is always safe: the gap is NAKed and repaired later.
        this.c.pendingCapped++;
      } else {
        s.pending.set(seq, msg);
        s.bytes += size;
        this.pendingBytes += size;
      }
    }
    this.armNak(s);
  }

  private deliver(s: InStream, seq: number, msg: Msg, cast: boolean): void {
    s.next = seq + 1;
    this.c.delivered++;
    if (cast && this.members.has(s.from)) this.hold(s.from, seq, msg);
    this.ctx.passUp({ type: 'deliver', msg, from: s.from, cast, meta: { seq } });
  }

  private drain(s: InStream, cast: boolean): void {
    for (let m = s.pending.get(s.next); m !== undefined; m = s.pending.get(s.next)) {
      this.unhold(s, s.next, m);
      this.deliver(s, s.next, m, cast);
    }
  }

  private armNak(s: InStream): void {
    const gap = !s.unsynced && s.next <= s.highest;
    const key = s.nakKey;
    if (!gap) {
      s.nakArmed = false;
      s.nakDelay = 0;
      this.ctx.clearTimer(key);
      return;
    }
    if (s.nakArmed) return;
    s.nakArmed = true;
    const jitter = this.o.nakMinMs + this.ctx.random() * (this.o.nakMaxMs - this.o.nakMinMs);
    this.ctx.setTimer(key, s.nakDelay + jitter);
  }

  private onSession(from: MemberId, channel: number, last: number): void {
    const s = this.inStream(from, channel);
    if (s.unsynced) {
      // Kept raw (`highest` means nothing yet) and bounded when the origin is known.
      if (last > s.highest) s.highest = last;
      this.askOrigin(s);
      return;
    }
    // Never believe more than we could hold: a forged or stale claim cannot inflate the gap.
    const claim = Math.min(last, s.next + this.o.maxPending);
    if (claim > s.highest) s.highest = claim;
    this.armNak(s);
  }

  private onNak(from: MemberId, channel: number, nonce: number, ranges: unknown[]): void {
    // Validate every pair before acting on any; one NAK buys at most maxRetransmitsPerNak resends.
    const pairs = this.nakPairs(ranges);
    // Our casts are resent to the whole group: only a member may ask for them, or a stranger's
    // 39-byte NAKs would make us re-cast to everyone (133 NAKs: 527 re-casts; session 19's review).
    // A stack without membership above (no view ever passed down) serves anyone, as before.
    if (channel === CAST && this.members.size > 0 && !this.members.has(from)) {
      this.c.strangerNaks++;
      return;
    }
    const s = this.out.get(channel === CAST ? '*' : from);
    if (!s) return;
    const now = this.ctx.now();
    let gone = false;
    let budget = this.o.maxRetransmitsPerNak;
    for (const [lo, rawHi] of pairs) {
      const hi = Math.min(rawHi, s.nextSeq - 1);
      if (lo < s.base) gone = true;
      // A receiver asks from where it stands, never below where the stream began (its origin,
      // which only it learnt): a range from below it is a forger's, who spoofed the receiver's
      // address without knowing the origin. Served, one 42-byte NAK [0, 2^53) drew 512 of the
      // buffered messages, 30 MB after a state transfer, towards that address (FINDINGS 227).
      // A receiver met again after a forget may stand below a new stream's start: its Gone (it
      // is below the buffer too) moves it up, and its next NAK is served.
      if (lo < s.start) {
        this.c.naksBelowOrigin++;
        continue;
      }
      for (let seq = Math.max(lo, s.base); seq <= hi && budget > 0; seq++) {
        const m = s.buffer.get(seq);
        if (!m) continue;
        const last = s.lastSent.get(seq) ?? Number.NEGATIVE_INFINITY;
        if (now - last < this.o.retransmitGuardMs) continue;
        s.lastSent.set(seq, now);
        budget--;
        this.c.retransmits++;
        this.transmit(s, this.dataHeader(s, seq), m);
      }
    }
    if (gone) this.control(from, [NakKind.Gone, channel, s.base, nonce]);
  }

  private hold(origin: MemberId, seq: number, msg: Msg): void {
    let h = this.held.get(origin);
    if (!h) {
      h = { base: seq, top: seq, msgs: new Map(), lastSent: new Map(), bytes: 0 };
      this.held.set(origin, h);
    }
    h.msgs.set(seq, msg);
    h.bytes += msg.payload.length;
    h.top = seq;
    if (h.msgs.size > this.o.maxHeld) this.release(h, seq + 1 - this.o.maxHeld);
    // Copies are taken in sequence order, so the first key is the oldest.
    while (h.bytes > this.o.maxHeldBytes && h.msgs.size > 1) this.release(h, h.msgs.keys().next().value! + 1);
  }

  /** Drops held copies below `upTo`; walks only what is held. */
  private release(h: Held, upTo: number): void {
    if (upTo <= h.base) return;
    const drop = (k: number): void => {
      const m = h.msgs.get(k);
      if (!m) return;
      h.bytes -= m.payload.length;
      h.msgs.delete(k);
      h.lastSent.delete(k);
    };
    if (upTo - h.base > h.msgs.size) {
      for (const k of [...h.msgs.keys()]) if (k < upTo) drop(k);
    } else for (let k = h.base; k < upTo; k++) drop(k);
    h.base = upTo;
  }

  /** Validated [lo, hi] pairs of a NAK, at most maxNakRanges. */
  private nakPairs(ranges: unknown[]): [number, number][] {
    const pairs: [number, number][] = [];
    for (let i = 0; i + 1 < ranges.length && pairs.length < this.o.maxNakRanges; i += 2) {
      const lo = headerUint(ranges[i], 'nak', 'range');
      const hi = headerUint(ranges[i + 1], 'nak', 'range');
      if (lo > hi) throw new DecodeError('DECODE_BAD_SHAPE', 'nak: range with lo > hi');
      pairs.push([lo, hi]);
    }
    return pairs;
  }

  /**
   * A receiver asks us for another sender's casts: what we hold goes to it point to point, each
   * copy at most once per retransmitGuardMs. Only members ask and only members' streams are
   * held, so a stranger cannot use us to amplify.
   */
  private onNakFor(from: MemberId, origin: MemberId, ranges: unknown[]): void {
    const pairs = this.nakPairs(ranges);
    const h = this.held.get(origin);
    if (!h || !this.members.has(from) || from === origin) return;
    const now = this.ctx.now();
    let budget = this.o.maxRetransmitsPerNak;
    for (const [lo, hi] of pairs)
      for (const [seq, m] of heldIn(h, lo, hi)) {
        if (budget === 0) return;
        if (now - (h.lastSent.get(seq) ?? Number.NEGATIVE_INFINITY) < this.o.retransmitGuardMs) continue;
        h.lastSent.set(seq, now);
        budget--;
        this.c.repairsForOthers++;
        this.ctx.passDown({
          type: 'send',
          to: from,
          msg: pushHeader(m, [NakKind.Repair, CAST, origin, seq]),
          qos: { order: 'unreliable' },
        });
      }
  }

  /** Another member's copy of a cast: taken like the sender's own retransmission. */
  private onRepair(from: MemberId, origin: MemberId, seq: number, msg: Msg): void {
    if (!this.members.has(from) || !this.members.has(origin) || origin === this.ctx.self) return;
    if (!this.inn.has(`${origin}|${CAST}`)) return;
    this.onData(origin, CAST, seq, msg, true);
  }

  private onGone(from: MemberId, channel: number, firstAvailable: number, nonce: number): void {
    const s = this.inn.get(`${from}|${channel}`);
    // Only believe a Gone while we are missing something, and never past what we know exists.
    if (!s || s.unsynced || s.next > s.highest) return;
    // Nor one that does not answer our NAKs: a Session and a Gone forged in a sender's name
    // made a receiver skip 9,999 of its casts, wherever the stream stood (FINDINGS, session 31).
    if (nonce !== s.nonce) {
      this.c.echoesRefused++;
      return;
    }
    const upTo = Math.min(firstAvailable, s.highest + 1);
    if (s.next < upTo) this.skipTo(s, upTo, true);
  }

  /** Give up on everything before `seq` (reported up as lost unless it is a join point). */
  private skipTo(s: InStream, seq: number, report: boolean): void {
    const had = s.next;
    for (const [k, m] of s.pending) if (k < seq) this.unhold(s, k, m);
    s.next = seq;
    s.highest = Math.max(s.highest, seq - 1);
    if (report && had < seq) {
      this.c.lost += seq - had;
      this.ctx.passUp({ type: 'lost', from: s.from, fromSeq: had, toSeq: seq - 1 });
    }
    this.drain(s, s.channel === CAST);
    this.armNak(s);
  }

  /**
   * Whether a Sync for `from`'s stream on `channel` may go out, and its Origin be taken. A Sync goes
   * to the address com holds for the sender's id: pinned for a member of the view (com refuses
   * its id from elsewhere), else whoever spoke last in that id. A forger that spoke first in a
   * joiner's (predictable) id from its own address got the nonce, answered with an origin of its
   * own, and owned the stream: the joiner's casts were never delivered there, and it was excluded
   * (FINDINGS 215). So any stream of a member; while this stack holds a view, nothing of a
   * stranger's (a joiner's cast stream comes with the Install's join point, `expect`, the rest by
   * a Sync once the view lists it). Before, under a membership layer (it asked `castNext`), the
   * point-to-point stream of a sender membership pinned (`pin`: its Here or Join echoed the
   * challenge our Join carried to its address; the join and founding handshakes): a forger that
   * spoke first in the coordinator's id from its own address got a joiner's Sync and its Install
   * was installed (FINDINGS 215). Under none, anything before a view, as before.
   */
  private mayAsk(from: MemberId, channel: number): boolean {
    // Our own casts come back through com, not over the network.
    if (this.members.has(from) || from === this.ctx.self) return true;
    if (this.members.size > 0) return false;
    if (!this.joinPoints) return true;
    return channel === P2P && this.pins.has(from);
  }

  /**
   * Asks the sender where the stream begins: at once, then (a member's stream) every `nakMaxMs`
   * for `SYNC_EAGER` rounds, backing off to `nakBackoffMaxMs` after (a member that has no such
   * stream never answers). Nothing of the stream is delivered until the answer, so rounds do not
   * back off early: over a link that loses 70 %, doubling from the start made a first cast wait
   * past 400 ms. A stranger's stream is asked again only when more of it comes, so a forged
   * packet in an invented sender's name draws at most one Sync.
   */
  private askOrigin(s: InStream): void {
    if (s.syncArmed || !s.unsynced) return;
    if (!this.mayAsk(s.from, s.channel)) {
      this.c.syncsWithheld++;
      return;
    }
    s.syncArmed = true;
    this.c.syncsSent++;
    this.control(s.from, [NakKind.Sync, s.channel, s.nonce]);
    s.syncRounds++;
    const delay =
      s.syncRounds <= SYNC_EAGER
        ? this.o.nakMaxMs
        : Math.min(this.o.nakBackoffMaxMs, this.o.nakMaxMs * 2 ** (s.syncRounds - SYNC_EAGER));
    this.ctx.setTimer(`sync:${s.from}|${s.channel}`, delay);
  }

  /**
   * A receiver asks where our stream to it, or our cast stream, begins. The cast stream's origin
   * goes only to members of the view (a stranger who learnt it could count from it); a stack that
   * never saw a view answers anyone, as it serves NAKs: under gms that gives nothing away, since
   * gms holds every reliable cast back until its first view, so no cast stream exists before one
   * (no stream: no answer).
   */
  private onSync(from: MemberId, channel: number, nonce: number): void {
    if (channel === CAST && this.members.size > 0 && !this.members.has(from)) {
      this.c.strangerSyncs++;
      return;
    }
    this.control(from, [NakKind.Origin, channel, nonce, this.startOf(channel === CAST ? '*' : from)]);
  }

  private onOrigin(from: MemberId, channel: number, nonce: number, origin: number): void {
    const s = this.inn.get(`${from}|${channel}`);
    if (!s?.unsynced) return;
    if (!this.mayAsk(from, channel)) {
      this.c.strangerOrigins++;
      return;
    }
    if (nonce !== s.nonce) {
      this.c.echoesRefused++;
      return;
    }
    this.settle(s, origin);
  }

  /**
   * The stream's position is known now (an Origin or a join point): what was held outside
   * [at, at + maxPending] goes, the rest is delivered in turn or NAKed for.
   */
  private settle(s: InStream, at: number): void {
    s.unsynced = false;
    s.syncArmed = false;
    this.ctx.clearTimer(`sync:${s.from}|${s.channel}`);
    const claimed = s.highest;
    s.next = at;
    s.highest = claimed >= at ? Math.min(claimed, at + this.o.maxPending) : at - 1;
    for (const [k, m] of s.pending)
      if (k < at || k > at + this.o.maxPending) this.unhold(s, k, m);
      else if (k > s.highest) s.highest = k;
    this.drain(s, s.channel === CAST);
    this.armNak(s);
  }

  /** Gaps between `next` and `highest`, as [lo, hi] pairs; linear in what is held, not in the gap. */
  private missingRanges(s: InStream): number[] {
    const ranges: number[] = [];
    let cursor = s.next;
    const held = [...s.pending.keys()].sort((a, b) => a - b);
    for (const k of held) {
      if (ranges.length >= 2 * this.o.maxNakRanges) return ranges;
      if (k > cursor) ranges.push(cursor, k - 1);
      cursor = Math.max(cursor, k + 1);
    }
    if (cursor <= s.highest && ranges.length < 2 * this.o.maxNakRanges) ranges.push(cursor, s.highest);
    return ranges;
  }

  timer(key: string): void {
    if (key.startsWith('sync:')) {
      const s = this.inn.get(key.slice(5));
      if (!s?.unsynced) return;
      s.syncArmed = false;
      if (!this.members.has(s.from) && !this.pins.has(s.from)) return;
      if (s.syncRounds < SYNC_ROUNDS) {
        this.askOrigin(s);
        return;
      }
      // Unanswered that long: the sender has no such stream (a forger wrote it in a member's
      // name: 2,000 spoofed datagrams held 4.3 MB for as long as the member stayed, asked for
      // every 100 ms, FINDINGS 214) or cannot reach us. What was held goes (a sender's own is
      // still buffered there, NAKed once the origin is known), and the stream is asked again
      // only when more of it comes, as a stranger's: a live sender's Session does within
      // `sessionMaxMs`.
      this.c.syncsAbandoned++;
      this.releasePending(s);
      return;
    }
    if (key.startsWith('nak:')) {
      const s = this.inn.get(key.slice(4));
      if (!s) return;
      s.nakArmed = false;
      const ranges = this.missingRanges(s);
      if (ranges.length === 0) return;
      this.c.naksSent++;
      this.control(s.from, [NakKind.Nak, s.channel, s.nonce, ...ranges]);
      // The last round brought nothing: the sender's link to us may be the bad one, so ask
      // another member as well (any holder may repair, as in SRM), picked at random each round.
      if (s.channel === CAST && s.next === s.nakedAt && this.members.has(s.from)) this.nakOther(s, ranges);
      // Back off only while NAKs bring nothing: under steady loss there is always some gap, and
      // a per-stream backoff that never resets would leave every new loss waiting the maximum.
      s.nakDelay =
        s.next > s.nakedAt ? 0 : Math.min(this.o.nakBackoffMaxMs, Math.max(this.o.nakMaxMs, s.nakDelay * 2));
      s.nakedAt = s.next;
      this.dropClaim(s);
      this.armNak(s);
      return;
    }
    if (key.startsWith('session:')) {
      const target = key.slice(8);
      const s = this.out.get(target);
      if (!s || s.nextSeq === s.start) return;
      const header: unknown[] = [NakKind.Session, s.channel, s.nextSeq - 1];
      if (s.to !== null) header.push(s.to);
      if (s.to === null)
        this.ctx.passDown({
          type: 'cast',
          msg: { headers: [header], payload: EMPTY },
          qos: { order: 'unreliable' },
        });
      else this.control(s.to, header);
      const unstable = s.to === null && this.stableSeen && s.base < s.nextSeq;
      const cap = unstable ? Math.min(this.o.sessionUnstableMs, this.o.sessionMaxMs) : this.o.sessionMaxMs;
      s.sessionDelay = Math.min(cap, s.sessionDelay * 2);
      this.ctx.setTimer(key, s.sessionDelay);
    }
  }

  /**
   * After {@link CLAIM_ROUNDS} NAK rounds in a row that asked for more than the highest message
   * held, what only a Session claimed (beyond every message held) is no longer believed: `highest` falls back to the highest message held. Its
   * sender announces again within `sessionMaxMs` (`sessionUnstableMs` while a cast is unstable),
   * which raises it again if the claim was true. Before, a Session is all it took: one forged in a
   * member's name from its address, claiming any position above the stream's (a guess below 2^48
   * is, half the time), was believed up to `next + maxPending`, and the receiver NAKed the member,
   * and asked another, about 50 times a second for as long as the member had not cast that many
   * messages (FINDINGS 233).
   */
  private dropClaim(s: InStream): void {
    let held = s.next - 1;
    for (const k of s.pending.keys()) if (k > held) held = k;
    if (s.highest <= held) {
      s.fruitless = 0;
      return;
    }
    if (++s.fruitless < CLAIM_ROUNDS) return;
    s.highest = held;
    s.fruitless = 0;
    this.c.claimsDropped++;
  }

  private nakOther(s: InStream, ranges: number[]): void {
    const others = [...this.members].filter((m) => m !== s.from && m !== this.ctx.self);
    if (others.length === 0) return;
    const to = others[Math.floor(this.ctx.random() * others.length)]!;
    this.c.naksForwarded++;
    this.control(to, [NakKind.NakFor, CAST, s.from, ...ranges]);
  }

  stats(): Record<string, number> {
    let buffered = 0;
    for (const s of this.out.values()) buffered += s.buffer.size;
    let pending = 0;
    let unsynced = 0;
    for (const s of this.inn.values()) {
      pending += s.pending.size;
      if (s.unsynced) unsynced++;
    }
    let held = 0;
    for (const h of this.held.values()) held += h.msgs.size;
    return {
      ...this.c,
      buffered,
      pending,
      held,
      pendingBytes: this.pendingBytes,
      inStreams: this.inn.size,
      unsynced,
    };
  }
}

/**
 * The copies held in [lo, hi], in sequence order: by index over a short range, else over the
 * copies themselves (taken in delivery order, so ascending), as a skip can leave a wide gap.
 */
function* heldIn(h: Held, lo: number, hi: number): Generator<[number, Msg]> {
  const from = Math.max(lo, h.base);
  const to = Math.min(hi, h.top);
  if (to - from + 1 <= h.msgs.size)
    for (let seq = from; seq <= to; seq++) {
      const m = h.msgs.get(seq);
      if (m) yield [seq, m];
    }
  else for (const [seq, m] of h.msgs) if (seq >= from && seq <= to) yield [seq, m];
}

const EMPTY = new Uint8Array(0);
/** Syncs sent `nakMaxMs` apart before they back off (see `Nak.askOrigin`). */
const SYNC_EAGER = 8;
/** Timed Syncs for a member's stream before it is asked only when more of it comes (about
 * 2.5 s with the default timings; see `Nak.timer`). */
const SYNC_ROUNDS = 32;

/** NAK rounds in a row after which a gap only a Session claimed is dropped (see
 * `Nak.dropClaim`): a true claim is repaired in a round or two. About 0.1 s while the sender
 * casts (no backoff), 0.7 s while it is idle (20, 40, 80, then 100 ms). */
const CLAIM_ROUNDS = 8;
const MAX_TOMBSTONES = 4096;
/** Stranger streams whose position is kept after they were dropped (see `Nak.strangerTombs`). */
const MAX_STRANGER_TOMBSTONES = 1024;
/** What {@link msgBytes} counts for a held message beyond its bytes and header values. */
const MSG_OVERHEAD = 128;

/**
 * What holding `msg` costs, roughly: payload plus the headers of the layers above, walked
 * (a forged message can carry its bulk in headers as well as in its payload). Bounded: the
 * headers came through the msgpack guard. Only out-of-order messages are measured.
 */
function msgBytes(msg: Msg): number {
  // The message's own objects (the message, its payload's view and buffer) count too: a
  // one-byte message counted 9 bytes and held ~200 (session 30's review).
  let n = msg.payload.length + MSG_OVERHEAD;
  const walk = (v: unknown): void => {
    n += 8;
    if (typeof v === 'string') n += v.length;
    else if (v instanceof Uint8Array) n += v.length;
    else if (Array.isArray(v)) for (const x of v) walk(x);
  };
  walk(msg.headers);
  return n;
}

export const nak: LayerFactory<NakOptions> = {
  name: 'nak',
  // join-points: answers `castNext` and takes `expect` (see Nak.mayAsk).
  provides: ['reliable', 'fifo', 'join-points'],
  requires: ['transport'],
  create: (ctx, o) => {
    const opts = { ...DEFAULTS, ...o };
    requirePositive(
      'nak',
      opts,
      Object.keys(opts).filter((k) => k !== 'randomOrigins' && k !== 'originSecret'),
    );
    if (typeof opts.randomOrigins !== 'boolean')
      throw new StackConfigError('STACK_BAD_OPTION', 'nak option randomOrigins must be a boolean');
    if (
      opts.originSecret !== undefined &&
      (typeof opts.originSecret !== 'string' || opts.originSecret.length < 32)
    )
      throw new StackConfigError(
        'STACK_BAD_OPTION',
        'nak option originSecret must be a string of 32 or more characters',
      );
    if (opts.nakMaxMs < opts.nakMinMs)
      throw new StackConfigError('STACK_BAD_OPTION', 'nak: nakMaxMs < nakMinMs');
    return new Nak(ctx, opts);
  },
};
