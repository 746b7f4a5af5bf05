import { createHash } from 'node:crypto';
import { TroupeError } from '../errors.js';
import { AddressProof } from '../rpc/address-proof.js';
import { COOKIE_BYTES } from '../rpc/protocol.js';
import { headerBytes, headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import type { DownEvent, Layer, LayerContext, LayerFactory, Msg, UpEvent } from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/**
 * AFDP bulk transfer (docs/protocol.md, "Bulk transfer (AFDP)"): one sender streams one blob to
 * many receivers at a paced rate; receivers repair losses with randomized, suppressible NAKs.
 * Built as a layer directly above `com` (stack spec {@link BULK_STACK}): it needs no membership,
 * ordering or reliable streams, only addresses, authentication and casts.
 */

/** Header kinds of the afdp layer. */
export const AfdpKind = {
  /** [1, xfer, size, chunk, count, cookie] sender → seed address (probe), payload: SHA-256 of
   * the blob, then the catalog (optional, at most {@link MAX_CATALOG} bytes). `cookie` is the
   * sender's address cookie for the seed's address (see {@link AfdpKind.Challenge}). */
  Announce: 1,
  /** [2, xfer, a0, b0, ...] receiver → sender address (probe): add me; I hold chunks a0..b0, ....
   * Payload: the cookie the sender last gave us (Announce or Challenge), echoed. */
  Join: 2,
  /** [3, xfer, index] sender → all (cast) or one (send), payload: chunk `index`. */
  Data: 3,
  /** [4, xfer, from0, to0, from1, to1, ...] receiver → all (cast): resend these (inclusive). */
  Nak: 4,
  /** [5, xfer, have, castsHeard, done] receiver → sender (send), every `statusMs`. */
  Status: 5,
  /** [6, xfer] sender → receiver (send): your completion was seen; stop reporting. */
  Fin: 6,
  /** [7, xfer] sender → receiver (send): you were dropped (below the rate floor, or silent); stop. */
  Cut: 7,
  /**
   * [8, xfer] sender → a keyless Join's source address (probe), payload: the cookie of that
   * address. Without a key a Join's source address may be forged, and a Join admits a receiver
   * that every chunk is then cast to: one 35-byte Join spoofed from a victim's address drew an
   * 8 MB push there (FINDINGS 208). So a keyless Join counts only when it echoes the cookie the
   * sender gave the address it comes from (in the Announce to a seed, or here), which only a
   * host receiving there holds; any other Join carrying a cookie is answered with this, the
   * same size as the Join or smaller, and one carrying none with nothing.
   */
  Challenge: 8,
} as const;

/** Typed errors of the bulk layer. */
export class BulkError extends TroupeError {
  declare readonly code: 'BULK_BUSY' | 'BULK_ROLE' | 'BULK_OPTION';
}

/** What the afdp layer reports to its owner (the `onEvent` option). */
export type AfdpEvent =
  | { type: 'joined'; member: MemberId; address: string; late: boolean }
  /** The sender now serves `member` by `mode` (chosen from whether its casts reach it). */
  | { type: 'mode'; member: MemberId; mode: 'multicast' | 'unicast' }
  | { type: 'done'; member: MemberId; ms: number; have: number; castsHeard: number }
  /** The sender gave up on `member` (silent for `deadMs`, or below `floorBytesPerSec`): the others
   * were not held back. */
  | { type: 'dropped'; member: MemberId; have: number; count: number; reason: string }
  /** The sender's view of the transfer, every `statusMs` (a progress bar's input). */
  | {
      type: 'progress';
      xfer: number;
      ms: number;
      /** Blob bytes sent at least once, and the blob's size. */
      bytes: number;
      size: number;
      resent: number;
      receivers: number;
      done: number;
      dropped: number;
      /** Receivers more than a second (at the current pace) behind what was sent. */
      lagging: number;
      gapMs: number;
    }
  /** The sender's transfer ended: every joined receiver done or dropped. */
  | {
      type: 'finished';
      xfer: number;
      ms: number;
      done: number;
      dropped: number;
      /** Seeds that never joined within `joinWindowMs`. */
      absent: readonly string[];
      sent: number;
      resent: number;
      /** Chunks not sent because every receiver held them. */
      skipped: number;
    }
  /** A receiver holds the whole blob and its digest matched (also delivered up). */
  | { type: 'received'; xfer: number; from: MemberId; bytes: number; ms: number }
  /** A receiver assembled the blob but its digest did not match; it starts over. */
  | { type: 'corrupt'; xfer: number }
  /** A receiver was dropped by the sender (a `Cut`): it stops, holding `have` of `count` chunks. */
  | { type: 'cut'; xfer: number; have: number; count: number }
  /**
   * A receiver's sink threw (a full disk, a size its file system cannot hold, no permission):
   * the transfer ends here, nothing is delivered, and the process goes on.
   */
  | { type: 'failed'; xfer: number; reason: string }
  /**
   * A receiver ignored an Announce of another sender while its transfer is under way (its
   * sender heard within `deadMs`): at most one such event a second, all counted in
   * `stats().announcesRefused`.
   */
  | { type: 'refused'; xfer: number; from: MemberId; address: string; current: MemberId };

export interface AfdpOptions {
  /** Bytes per data packet. */
  chunk: number;
  /** Sender: receiver addresses to announce each transfer to. */
  seeds: readonly string[];
  /** Initial, smallest and largest inter-packet gap (ms). */
  gapMs: number;
  minGapMs: number;
  maxGapMs: number;
  /** Gap decrease per packet sent (ms); the AFDP rule's 1 ms/packet. */
  shrinkMs: number;
  /** Gap increase per resend request received (ms); the AFDP rule's 10 ms. */
  widenMs: number;
  /** Receiver: the sequence check period T_w (ms). */
  checkMs: number;
  /** Receiver: a NAK waits uniformly in [0, nakDelayMs] and is sent only for what is still missing. */
  nakDelayMs: number;
  /** Receiver: an index NAKed (by us or by a receiver we heard) is not NAKed again for this long. */
  suppressMs: number;
  /** Receiver: most indices in one NAK. */
  maxNak: number;
  /** Receiver: status period (ms). */
  statusMs: number;
  /** Sender: announce period to seeds not yet joined (ms). */
  announceMs: number;
  /** Sender: seeds that have not joined by this time after the start are not waited for. */
  joinWindowMs: number;
  /**
   * Sender: a receiver silent this long is dropped (silence while new data is held back for the
   * seeds not counted). Receiver: a transfer whose sender has been silent this long may be
   * replaced by another sender's Announce (before, it is kept and the Announce ignored), and one
   * whose sender sent no Data for this long is not reported on (see `Incoming.provenAt`).
   */
  deadMs: number;
  /**
   * Sender: the slowest rate (bytes/s) the user accepts; 0 for none. The gap never widens past
   * `chunk / floorBytesPerSec`, so resend requests cannot pace the others below it, and a receiver
   * holding less than the floor would have delivered since it joined (less `floorGraceMs`) is
   * dropped with a report.
   */
  floorBytesPerSec: number;
  /** Sender: time a receiver gets after joining before the floor applies to it (ms). */
  floorGraceMs: number;
  /** Sender: casts sent between two mode decisions for a receiver. */
  probeCasts: number;
  /** Most packets sent in one timer turn (bounds a turn's work). */
  maxBurst: number;
  /** Owner's sink for {@link AfdpEvent}s (progress and the per-receiver summary). */
  onEvent?: (e: AfdpEvent) => void;
  /**
   * Sender: bytes announced with the transfer from which a receiver can tell what it already
   * holds (`troupe dist`: the bundle's manifest). With a catalog, new data waits until every
   * seed joined (or `joinWindowMs`) and chunks every receiver holds are not sent.
   */
  catalog?: Uint8Array;
  /**
   * Receiver: the chunks it already holds, by index, from the announced catalog (called once per
   * transfer, synchronously; iterated lazily, each chunk written to the sink and let go). They
   * are never asked for, and are named in the Join.
   */
  holdings?: (catalog: Uint8Array, chunk: number, size: number) => Iterable<[number, Uint8Array]>;
  /**
   * Sender: where the blob's bytes come from. With a source, a cast sends it (the cast's payload
   * is ignored) and nothing of it is held here: chunks are read when sent or resent. Without
   * one, a cast sends its payload from memory.
   */
  source?: BlobSource;
  /**
   * Receiver: where a transfer's chunks go, made when it is announced (`size` bytes). Without
   * one, they are assembled in memory and delivered up as the payload; with one, the payload
   * delivered up is empty and the owner reads what the sink holds.
   */
  sink?: (size: number) => BlobSink;
  /**
   * Sender: the secret its address cookies are made under ({@link AfdpKind.Challenge}). A driver
   * passes random bytes (`troupe dist`: 16 from node:crypto); without one, 16 bytes are drawn
   * from the injected random source when the first transfer starts (simulators and tests).
   */
  cookieSecret?: Uint8Array;
}

/**
 * The sender's blob, read by chunk (injected IO, so the layer stays sans-IO: `troupe dist` reads
 * files, the simulator memory). `read` is synchronous and must return exactly `length` bytes.
 */
export interface BlobSource {
  readonly size: number;
  /** SHA-256 of the whole blob. */
  readonly digest: Uint8Array;
  read(offset: number, length: number): Uint8Array;
}

/** Where a receiver puts a transfer's chunks (injected IO, like {@link BlobSource}). */
export interface BlobSink {
  write(offset: number, bytes: Uint8Array): void;
  /** SHA-256 of the `size` bytes written (once every chunk is). */
  digest(): Uint8Array;
  /** The whole blob, when the sink holds it in memory (delivered up as the payload). */
  bytes?(): Uint8Array;
  /** The transfer starts over (the digest did not match): every chunk will be written again. */
  reset?(): void;
}

/** A blob held in memory, as a source. */
export function memorySource(blob: Uint8Array): BlobSource {
  return {
    size: blob.length,
    digest: createHash('sha256').update(blob).digest(),
    read: (offset, length) => blob.subarray(offset, offset + length),
  };
}

/** A sink assembling the blob in memory (one buffer of the blob's size). */
export function memorySink(size: number): BlobSink {
  const blob = new Uint8Array(size);
  return {
    write: (offset, bytes) => blob.set(bytes, offset),
    digest: () => createHash('sha256').update(blob).digest(),
    bytes: () => blob,
  };
}

/** Largest chunk (one datagram): a sender's `chunk` option, and what a receiver accepts. */
export const MAX_CHUNK = 60_000;
/**
 * Most chunks a receiver accepts in a transfer: it keeps a byte per chunk (64 MiB at most; 4 TB
 * of 60,000-byte chunks). An Announce of 2^40 chunks threw a RangeError out of the layer, one of
 * 2^52 bytes made the receiver's part file throw EFBIG: either ended the process, one datagram
 * without a key.
 */
export const MAX_CHUNKS = 1 << 26;

/** Largest catalog an Announce carries (it must fit one datagram with the headers). */
export const MAX_CATALOG = 48 * 1024;
/** Most held ranges a Join names (the rest are asked for and sent as usual). */
const MAX_HELD_RANGES = 2048;

export const AFDP_DEFAULTS: Omit<AfdpOptions, 'onEvent'> = {
  chunk: 8192,
  seeds: [],
  gapMs: 2,
  minGapMs: 0.02,
  maxGapMs: 50,
  shrinkMs: 0.01,
  widenMs: 0.1,
  checkMs: 20,
  nakDelayMs: 20,
  suppressMs: 60,
  maxNak: 256,
  statusMs: 100,
  announceMs: 100,
  joinWindowMs: 1000,
  deadMs: 3000,
  floorBytesPerSec: 0,
  floorGraceMs: 2000,
  probeCasts: 32,
  maxBurst: 64,
};

/** The bulk transfer stack, top first. */
export const BULK_STACK = 'afdp:com';

interface Peer {
  address: string;
  joinedAt: number;
  /** The sender's next new index when this receiver joined. */
  nextAtJoin: number;
  /** Chunks it said it holds (its Join): not sent to it. */
  held: HeldChunks;
  heardAt: number;
  mode: 'multicast' | 'unicast';
  done: boolean;
  dropped: boolean;
  have: number;
  /** When `have` was reported: the floor is checked at that time, not now (statuses lag). */
  haveAt: number;
  castsHeard: number;
  /** It sent a Status: a keyless receiver reports only once Data reaches it, so until then it
   * is sent a chunk now and then (see `welcome`). */
  reported: boolean;
  /** Casts sent and heard when the mode was last decided. */
  castsAtCheck: number;
  heardAtCheck: number;
}

interface Outgoing {
  xfer: number;
  src: BlobSource;
  count: number;
  startedAt: number;
  next: number;
  resend: Set<number>;
  /** Unicast-served receivers that asked for an index (cast repairs do not reach them). */
  wantedBy: Map<number, Set<MemberId>>;
  peers: Map<MemberId, Peer>;
  /** New data is held back for the holdings exchange (a catalog was announced). */
  waiting: boolean;
  /** When new data was first due (the start, or the end of the wait): a receiver's silence is
   * counted from here at the earliest, since it reports only once Data reaches it. */
  sendingAt: number;
  /** Chunks not sent because every receiver held them. */
  skipped: number;
  credit: number;
  lastTxAt: number;
  casts: number;
  sent: number;
  resent: number;
  finished: boolean;
}

interface Incoming {
  xfer: number;
  sender: MemberId;
  /** Where the sender announced from: our Joins go there. */
  address: string;
  /** The sender's cookie for our address, echoed in every Join (empty from an older sender). */
  cookie: Uint8Array;
  size: number;
  chunkSize: number;
  digest: Uint8Array;
  /** Per index (one per chunk): 1 once its chunk is in the sink. */
  got: Uint8Array;
  sink: BlobSink;
  have: number;
  highest: number;
  castsHeard: number;
  arrivedSinceCheck: boolean;
  /** Index → time until which it is not NAKed (we asked, or another receiver did). */
  quiet: Map<number, number>;
  nakArmed: boolean;
  joinedAt: number;
  done: boolean;
  finTries: number;
  /** Indices held before the transfer (from `holdings`), sorted: named in every Join. */
  held: number[];
  /** When its sender was last heard (an Announce, Data or Fin of this transfer). */
  heardAt: number;
  /**
   * When Data of this transfer last came from its sender (with a key, a verified Announce too).
   * Statuses and NAKs go to the sender only within `deadMs` of it. Without a key an Announce's
   * source address may be forged, and one 76-byte Announce spoofed from a victim's address had
   * a receiver send 3,600 packets there in 60 s, without end (FINDINGS 211): until Data comes,
   * an Announce is answered with its Join alone; a sender that stops sending is not reported to
   * past `deadMs` (it dropped us by then), and reports resume if its Data comes again.
   */
  provenAt: number;
}

class Afdp implements Layer {
  private out: Outgoing | undefined;
  private inc: Incoming | undefined;
  private readonly completed = new Set<number>();
  /** The sender's address cookies (made when its first transfer starts). */
  private proof: AddressProof | undefined;
  private gap: number;
  private readonly counters = {
    naksSent: 0,
    naksHeard: 0,
    naksSuppressed: 0,
    dupData: 0,
    widened: 0,
    /** Announces of another sender ignored while a transfer was under way. */
    announcesRefused: 0,
    /** Keyless Joins that echoed no cookie of their source address (not taken). */
    joinsUnproven: 0,
  };
  /** When the last `refused` event was reported (one a second at most). */
  private refusedReportedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: AfdpOptions,
  ) {
    this.gap = Math.min(o.gapMs, this.maxGap());
  }

  /** The widest gap allowed: `maxGapMs`, or narrower when a rate floor is set. */
  private maxGap(): number {
    const f = this.o.floorBytesPerSec;
    return f > 0 ? Math.min(this.o.maxGapMs, (this.o.chunk * 1000) / f) : this.o.maxGapMs;
  }

  private emitEvent(e: AfdpEvent): void {
    this.o.onEvent?.(e);
  }

  // ---------------------------------------------------------------- down: the sender's start

  down(ev: DownEvent): void {
    if (ev.type !== 'cast') {
      this.ctx.passDown(ev);
      return;
    }
    if (this.out && !this.out.finished)
      throw new BulkError('BULK_BUSY', 'afdp: a transfer is already under way from this member');
    const src = this.o.source ?? memorySource(ev.msg.payload);
    const count = Math.max(1, Math.ceil(src.size / this.o.chunk));
    const now = this.ctx.now();
    const xfer = Math.floor(this.ctx.random() * 0xffffffff) >>> 0;
    // Drawn after the transfer id, so a simulated sender's earlier draws stay what they were.
    this.proof ??= new AddressProof(this.o.cookieSecret ?? drawSecret(this.ctx));
    this.out = {
      xfer,
      src,
      count,
      startedAt: now,
      next: 0,
      resend: new Set(),
      wantedBy: new Map(),
      peers: new Map(),
      waiting: this.o.catalog !== undefined,
      sendingAt: now,
      skipped: 0,
      credit: 0,
      lastTxAt: now,
      casts: 0,
      sent: 0,
      resent: 0,
      finished: false,
    };
    this.gap = Math.min(this.o.gapMs, this.maxGap());
    this.announce();
    this.ctx.setTimer('tx', 0);
    this.ctx.setTimer('watch', this.o.statusMs);
  }

  private msg(header: unknown[], payload: Uint8Array = EMPTY): Msg {
    return { headers: [header], payload };
  }

  private announce(): void {
    const o = this.out!;
    const joined = new Set([...o.peers.values()].map((p) => p.address));
    const now = this.ctx.now();
    for (const seed of this.o.seeds) {
      if (joined.has(seed)) continue;
      // A seed's cookie is made for the address as given: a receiver answering from another
      // one (a host name, NAT) is challenged at the address its Join came from.
      this.ctx.passDown({
        type: 'probe',
        to: seed,
        msg: this.msg(
          [AfdpKind.Announce, o.xfer, o.src.size, this.o.chunk, o.count, this.proof!.cookieFor(seed, now)],
          this.o.catalog ? concat(o.src.digest, this.o.catalog) : o.src.digest,
        ),
      });
    }
    this.ctx.setTimer('announce', this.o.announceMs);
  }

  /** Give com every receiver's address, so casts (fan-out) and sends reach them. */
  private installPeers(): void {
    const o = this.out!;
    const live = [...o.peers.entries()].filter(([, p]) => !p.dropped);
    this.ctx.passDown({
      type: 'view',
      view: {
        id: 0,
        members: [this.ctx.self, ...live.map(([m]) => m)],
        addresses: ['', ...live.map(([, p]) => p.address)],
      },
    });
  }

  /** One sending turn: spend the credit the gap allows since the last turn. */
  private transmit(): void {
    const o = this.out;
    if (!o || o.finished) return;
    const now = this.ctx.now();
    o.credit = Math.min(this.o.maxBurst, o.credit + (now - o.lastTxAt) / this.gap);
    o.lastTxAt = now;
    let sent = 0;
    while (o.credit >= 1 && sent < this.o.maxBurst) {
      const idx = this.pick(o);
      if (idx === undefined) {
        o.credit = 0; // idle: do not bank credit for a burst later
        break;
      }
      this.sendChunk(o, idx);
      o.credit--;
      sent++;
      // AFDP: the gap shrinks with every packet sent while no resend request arrives.
      this.gap = Math.max(this.o.minGapMs, this.gap - this.o.shrinkMs);
    }
    this.ctx.setTimer('tx', Math.max(1, this.gap));
  }

  private pick(o: Outgoing): number | undefined {
    for (const idx of o.resend) {
      o.resend.delete(idx);
      o.resent++;
      return idx;
    }
    if (o.waiting) {
      const now = this.ctx.now();
      const joined = new Set([...o.peers.values()].map((p) => p.address));
      if (!this.o.seeds.every((s) => joined.has(s)) && now - o.startedAt < this.o.joinWindowMs)
        return undefined;
      o.waiting = false;
      o.sendingAt = now;
    }
    const live = [...o.peers.values()].filter((p) => !p.dropped && !p.done);
    // Everyone who joined is done (from what it held) or dropped: nobody to send to.
    if (o.peers.size > 0 && live.length === 0) return undefined;
    // A chunk every receiver already holds is not sent (a late joiner asks for it by NAK).
    while (o.next < o.count && live.length > 0 && live.every((p) => p.held.has(o.next))) {
      o.next++;
      o.skipped++;
    }
    if (o.next < o.count) return o.next++;
    return undefined;
  }

  /** Data of chunk `idx`, read from the source. */
  private dataMsg(o: Outgoing, idx: number): Msg {
    const from = idx * this.o.chunk;
    return this.msg(
      [AfdpKind.Data, o.xfer, idx],
      o.src.read(from, Math.min(o.src.size, from + this.o.chunk) - from),
    );
  }

  private sendChunk(o: Outgoing, idx: number): void {
    const msg = this.dataMsg(o, idx);
    o.sent++;
    o.casts++;
    this.ctx.passDown({ type: 'cast', msg, qos: { order: 'unreliable' } });
    const wanted = o.wantedBy.get(idx);
    o.wantedBy.delete(idx);
    for (const [m, p] of o.peers) {
      if (p.done || p.dropped || p.mode !== 'unicast' || p.held.has(idx)) continue;
      // A unicast-served receiver gets new data, and the repairs it asked for, point to point.
      if (idx >= o.next - 1 || wanted?.has(m)) {
        this.ctx.passDown({ type: 'send', to: m, msg, qos: { order: 'unreliable' } });
        o.sent++;
      }
    }
  }

  private watch(): void {
    const o = this.out;
    if (!o || o.finished) return;
    const now = this.ctx.now();
    for (const [m, p] of o.peers) {
      if (p.done || p.dropped) continue;
      // A keyless receiver reports only once our Data reaches it: while new data is held back
      // (up to `joinWindowMs`, which may exceed `deadMs`) its silence says nothing.
      const silent = o.waiting ? 0 : now - Math.max(p.heardAt, o.sendingAt);
      if (silent >= this.o.deadMs) this.drop(o, m, p, `silent for ${Math.round(silent)} ms`);
      else {
        const slow = this.belowFloor(o, p, now);
        if (slow) this.drop(o, m, p, slow);
        else if (!p.reported && !o.waiting) this.welcome(o, m, p);
      }
    }
    const active = [...o.peers.values()];
    this.emitEvent({
      type: 'progress',
      xfer: o.xfer,
      ms: now - o.startedAt,
      bytes: Math.min(o.src.size, o.next * this.o.chunk),
      size: o.src.size,
      resent: o.resent,
      receivers: active.length,
      done: active.filter((p) => p.done).length,
      dropped: active.filter((p) => p.dropped).length,
      // More than a second behind at the current pace (1000 / gap packets a second).
      lagging: active.filter((p) => !p.done && !p.dropped && o.next - p.have > 1000 / this.gap).length,
      gapMs: this.gap,
    });
    const allSeen = this.o.seeds.every((s) => active.some((p) => p.address === s));
    const waiting = !allSeen && now - o.startedAt < this.o.joinWindowMs;
    if (!waiting && active.every((p) => p.done || p.dropped)) {
      o.finished = true;
      this.ctx.clearTimer('tx');
      this.ctx.clearTimer('announce');
      this.emitEvent({
        type: 'finished',
        xfer: o.xfer,
        ms: now - o.startedAt,
        done: active.filter((p) => p.done).length,
        dropped: active.filter((p) => p.dropped).length,
        absent: this.o.seeds.filter((s) => !active.some((p) => p.address === s)),
        sent: o.sent,
        resent: o.resent,
        skipped: o.skipped,
      });
      return;
    }
    this.ctx.setTimer('watch', this.o.statusMs);
  }

  /**
   * A keyless receiver reports (Status, NAKs) only once Data of ours reaches it, and one that
   * joined after the data went out, or that no cast reaches, hears none: it gets the first chunk
   * it lacks of those sent, point to point, at its Join and at each `watch` until it reports.
   * Its address was proven by its Join (a cookie, or com's key), so this sends nothing to an
   * address that did not ask.
   */
  private welcome(o: Outgoing, m: MemberId, p: Peer): void {
    const idx = p.held.firstMissing;
    // Holding all that was sent: the next new chunk is cast to it.
    if (idx >= o.next) return;
    this.ctx.passDown({ type: 'send', to: m, msg: this.dataMsg(o, idx), qos: { order: 'unreliable' } });
    o.sent++;
    o.resent++; // a chunk already sent: a repair, as a NAK of it would have had
  }

  /**
   * Why `p` is below the rate floor, or undefined. At its last status it owed what the floor
   * delivers in the time since it joined less the grace, but never more than the sender itself
   * has sent since then (a sender slower than the floor blames nobody).
   */
  private belowFloor(o: Outgoing, p: Peer, now: number): string | undefined {
    const floor = this.o.floorBytesPerSec;
    const over = p.haveAt - p.joinedAt - this.o.floorGraceMs;
    if (floor <= 0 || over <= 0) return undefined;
    const owed = Math.min((over / 1000) * floor, o.src.size) / this.o.chunk;
    const sent = o.next === o.count ? o.count : o.next - p.nextAtJoin;
    if (p.have >= Math.min(Math.floor(owed), sent)) return undefined;
    const ms = p.haveAt - p.joinedAt;
    const rate = Math.round((p.have * this.o.chunk * 1000) / ms);
    return `below the rate floor: ${rate} B/s over ${Math.round(ms)} ms (floor ${floor} B/s, ${Math.round(now - p.haveAt)} ms ago)`;
  }

  /** Give up on `p`: tell it (so it stops asking), stop serving it, report it. */
  private drop(o: Outgoing, m: MemberId, p: Peer, reason: string): void {
    this.ctx.passDown({
      type: 'send',
      to: m,
      msg: this.msg([AfdpKind.Cut, o.xfer]),
      qos: { order: 'unreliable' },
    });
    p.dropped = true;
    for (const s of o.wantedBy.values()) s.delete(m);
    this.emitEvent({ type: 'dropped', member: m, have: p.have, count: o.count, reason });
    this.installPeers();
  }

  // ---------------------------------------------------------------- up: packets

  up(ev: UpEvent): void {
    if (ev.type === 'discovery') {
      const { h, kind } = popKindHeader(ev.msg, 'afdp');
      if (kind === AfdpKind.Announce)
        this.onAnnounce(h, ev.msg.payload, ev.from, ev.address, ev.authenticated === true);
      else if (kind === AfdpKind.Join)
        this.onJoin(h, ev.msg.payload, ev.from, ev.address, ev.authenticated === true);
      else if (kind === AfdpKind.Challenge) this.onChallenge(h, ev.msg.payload, ev.from);
      return;
    }
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind } = popKindHeader(ev.msg, 'afdp');
    const xfer = headerUint(h[1], 'afdp', 'xfer');
    switch (kind) {
      case AfdpKind.Data:
        this.onData(xfer, headerUint(h[2], 'afdp', 'index'), ev.msg.payload, ev.from, ev.cast);
        return;
      case AfdpKind.Nak:
        this.onNak(xfer, h, ev.from);
        return;
      case AfdpKind.Status:
        this.onStatus(xfer, h, ev.from);
        return;
      case AfdpKind.Fin:
        if (this.inc?.xfer === xfer && this.inc.sender === ev.from) {
          this.inc.heardAt = this.ctx.now();
          this.inc.finTries = 0;
          this.ctx.clearTimer('status');
        }
        return;
      case AfdpKind.Cut:
        this.onCut(xfer, ev.from);
        return;
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `afdp: unknown kind ${kind}`);
    }
  }

  /**
   * A Join of our transfer. With a key, com verified it and bound it to its sender: it is taken
   * as it comes. Without one, only from an address shown to receive ({@link AfdpKind.Challenge}).
   */
  private onJoin(
    h: unknown[],
    cookie: Uint8Array,
    from: MemberId,
    address: string,
    authenticated: boolean,
  ): void {
    const xfer = headerUint(h[1], 'afdp', 'xfer');
    const o = this.out;
    if (!o || o.xfer !== xfer || o.finished) return;
    const now = this.ctx.now();
    if (!authenticated && !this.proof!.proves(address, cookie, now)) {
      this.counters.joinsUnproven++;
      // Answered no larger than the Join (same header, same payload size), and only one that
      // carries a cookie: a bare Join (an earlier release's, or a forger's 35 bytes) gets nothing.
      if (cookie.length === COOKIE_BYTES)
        this.ctx.passDown({
          type: 'probe',
          to: address,
          msg: this.msg([AfdpKind.Challenge, xfer], this.proof!.cookieFor(address, now)),
        });
      return;
    }
    const held = heldRanges(h, o.count);
    const p = o.peers.get(from);
    if (p) {
      p.heardAt = now;
      return;
    }
    const peer: Peer = {
      address,
      joinedAt: now,
      nextAtJoin: o.next,
      held,
      heardAt: now,
      mode: 'multicast',
      done: false,
      dropped: false,
      have: 0,
      haveAt: now,
      castsHeard: 0,
      reported: false,
      castsAtCheck: o.casts,
      heardAtCheck: 0,
    };
    o.peers.set(from, peer);
    this.installPeers();
    this.emitEvent({ type: 'joined', member: from, address, late: o.next > 0 });
    // It holds every chunk (its digest checked before it joined): it is done. Its done Status
    // would say so, but a keyless receiver reports only once Data reaches it, and nothing is
    // sent that every receiver holds.
    if (held.all) this.markDone(o, from, peer, o.src.size, now);
    else if (!o.waiting) this.welcome(o, from, peer);
  }

  private onNak(xfer: number, h: unknown[], from: MemberId): void {
    const o = this.out;
    if (o && o.xfer === xfer) {
      if (o.finished) return;
      const p = o.peers.get(from);
      // Only joined receivers may ask (AFDP: an authorized member); a dropped one no longer paces us.
      if (!p || p.dropped) return;
      p.heardAt = this.ctx.now();
      this.counters.naksHeard++;
      // AFDP: each resend request widens the gap at once (never past the rate floor's gap).
      this.gap = Math.min(this.maxGap(), this.gap + this.o.widenMs);
      this.counters.widened++;
      for (const idx of nakIndices(h, o.count, this.o.maxNak)) {
        if (idx >= o.next) continue; // only what was already sent
        o.resend.add(idx);
        if (p.mode === 'unicast') {
          const s = o.wantedBy.get(idx) ?? new Set<MemberId>();
          o.wantedBy.set(idx, s);
          s.add(from);
        }
      }
      return;
    }
    // Another receiver's NAK: its repair is coming to us too, so stay quiet about these.
    const inc = this.inc;
    if (!inc || inc.xfer !== xfer || inc.done) return;
    const until = this.ctx.now() + this.o.suppressMs;
    for (const idx of nakIndices(h, inc.got.length, this.o.maxNak)) inc.quiet.set(idx, until);
  }

  private onStatus(xfer: number, h: unknown[], from: MemberId): void {
    const o = this.out;
    if (!o || o.xfer !== xfer) return;
    const p = o.peers.get(from);
    if (!p) return;
    if (p.dropped) {
      // It missed its Cut: say it again.
      this.ctx.passDown({
        type: 'send',
        to: from,
        msg: this.msg([AfdpKind.Cut, xfer]),
        qos: { order: 'unreliable' },
      });
      return;
    }
    const now = this.ctx.now();
    p.heardAt = now;
    p.reported = true;
    p.have = headerUint(h[2], 'afdp', 'have');
    p.haveAt = now;
    p.castsHeard = headerUint(h[3], 'afdp', 'castsHeard');
    const done = headerUint(h[4], 'afdp', 'done') === 1;
    if (done) {
      this.markDone(o, from, p, p.have, now);
      return;
    }
    // Mode choice from what the sender observes: after `probeCasts` casts, a receiver that heard
    // none of them is served by unicast; one that hears casts again goes back to multicast.
    if (o.casts - p.castsAtCheck >= this.o.probeCasts)
      this.setMode(o, from, p, p.castsHeard - p.heardAtCheck === 0 ? 'unicast' : 'multicast');
  }

  /** A mode decision for `p` (`probeCasts` casts from now, the next). */
  private setMode(o: Outgoing, m: MemberId, p: Peer, mode: Peer['mode']): void {
    p.castsAtCheck = o.casts;
    p.heardAtCheck = p.castsHeard;
    if (mode === p.mode) return;
    p.mode = mode;
    this.emitEvent({ type: 'mode', member: m, mode });
  }

  /** `p` holds the blob: tell it (again, if it missed our Fin), and report it once. */
  private markDone(o: Outgoing, m: MemberId, p: Peer, have: number, now: number): void {
    this.ctx.passDown({
      type: 'send',
      to: m,
      msg: this.msg([AfdpKind.Fin, o.xfer]),
      qos: { order: 'unreliable' },
    });
    if (p.done) return;
    p.done = true;
    this.emitEvent({ type: 'done', member: m, ms: now - o.startedAt, have, castsHeard: p.castsHeard });
  }

  // ---------------------------------------------------------------- receiver

  private onCut(xfer: number, from: MemberId): void {
    const inc = this.inc;
    if (!inc || inc.xfer !== xfer || inc.sender !== from || inc.done) return;
    this.inc = undefined;
    for (const t of ['check', 'nak', 'status']) this.ctx.clearTimer(t);
    this.emitEvent({ type: 'cut', xfer, have: inc.have, count: inc.got.length });
  }

  private onAnnounce(
    h: unknown[],
    payload: Uint8Array,
    from: MemberId,
    address: string,
    authenticated: boolean,
  ): void {
    const xfer = headerUint(h[1], 'afdp', 'xfer');
    const size = headerUint(h[2], 'afdp', 'size');
    const chunkSize = headerUint(h[3], 'afdp', 'chunk');
    const count = headerUint(h[4], 'afdp', 'count');
    // An earlier release's sender sends none (and admits any Join): we echo nothing.
    const cookie = h.length > 5 ? headerBytes(h[5], 'afdp', 'cookie').slice() : EMPTY;
    if (
      chunkSize === 0 ||
      count !== Math.max(1, Math.ceil(size / chunkSize)) ||
      payload.length < 32 ||
      payload.length > 32 + MAX_CATALOG
    )
      throw new DecodeError('DECODE_BAD_SHAPE', 'afdp: inconsistent announce');
    if (chunkSize > MAX_CHUNK || count > MAX_CHUNKS)
      throw new DecodeError(
        'DECODE_OVERSIZED',
        `afdp: ${count} chunks of ${chunkSize} bytes (at most ${MAX_CHUNKS} of ${MAX_CHUNK})`,
      );
    const now = this.ctx.now();
    const cur = this.inc;
    // A transfer under way is its sender's until it ends or its sender falls silent. Any
    // Announce replaced it: without a key, anyone's (one datagram, in the forger's own name)
    // aborted a push mid-way, the part file removed, and the real sender, never announcing to a
    // joined receiver again, dropped this one as silent. Its own sender may announce again
    // (the same transfer, or its next one: a sender runs one at a time), and com refuses a
    // keyless packet in its name from another address, since it is our one view member.
    if (cur && !cur.done && cur.sender !== from && now - cur.heardAt < this.o.deadMs) {
      this.counters.announcesRefused++;
      if (now - this.refusedReportedAt >= 1_000) {
        this.refusedReportedAt = now;
        this.emitEvent({ type: 'refused', xfer, from, address, current: cur.sender });
      }
      return;
    }
    // The sender becomes our one peer: our casts (NAKs) and sends (status) reach it.
    this.ctx.passDown({
      type: 'view',
      view: { id: 0, members: [this.ctx.self, from], addresses: ['', address] },
    });
    if (cur?.xfer === xfer && cur.sender === from) {
      cur.heardAt = now;
      if (authenticated) cur.provenAt = now;
      // The cookie is kept: one a Challenge gave is for the address our Joins come from, which
      // the Announce's (for the seed's address as the sender was given it) may not be.
      cur.address = address;
      this.join(cur);
      return;
    }
    if (this.completed.has(xfer)) {
      this.ctx.passDown({ type: 'probe', to: address, msg: this.msg([AfdpKind.Join, xfer], cookie) });
      this.sendStatus(true); // it lost our completion: report it again
      return;
    }
    let sink: BlobSink;
    try {
      sink = (this.o.sink ?? memorySink)(size);
    } catch (e) {
      this.sinkFailed(xfer, e);
      return;
    }
    const inc: Incoming = {
      xfer,
      sender: from,
      address,
      cookie,
      size,
      chunkSize,
      digest: payload.slice(0, 32),
      got: new Uint8Array(count),
      sink,
      have: 0,
      highest: -1,
      castsHeard: 0,
      arrivedSinceCheck: false,
      quiet: new Map(),
      nakArmed: false,
      joinedAt: this.ctx.now(),
      done: false,
      finTries: 0,
      held: [],
      heardAt: now,
      // With a key com verified the Announce: its sender is who it says, at that address.
      provenAt: authenticated ? now : Number.NEGATIVE_INFINITY,
    };
    this.inc = inc;
    const catalog = payload.subarray(32);
    if (catalog.length > 0 && this.o.holdings) {
      try {
        for (const [idx, bytes] of this.o.holdings(catalog.slice(), chunkSize, size)) {
          const want = idx === count - 1 ? size - idx * chunkSize : chunkSize;
          if (!Number.isInteger(idx) || idx < 0 || idx >= count || bytes.length !== want || inc.got[idx])
            continue;
          inc.sink.write(idx * chunkSize, bytes);
          inc.got[idx] = 1;
          inc.have++;
          inc.held.push(idx);
        }
      } catch (e) {
        this.sinkFailed(xfer, e);
        return;
      }
      inc.held.sort((a, b) => a - b);
    }
    // Checked before the Join that names what we hold: a sender takes a Join naming every chunk
    // as the receiver done, and held chunks that fail the digest are named nowhere.
    if (inc.have === count) {
      this.complete(inc);
      if (this.inc !== inc) return; // the sink failed
    }
    this.join(inc);
    if (!inc.done) this.ctx.setTimer('check', this.o.checkMs);
    this.ctx.setTimer('status', this.o.statusMs);
  }

  /** Join (again: every announce is answered, the first Join may be lost), naming what we hold. */
  private join(inc: Incoming): void {
    const ranges = toRanges(inc.held).slice(0, 2 * MAX_HELD_RANGES);
    this.ctx.passDown({
      type: 'probe',
      to: inc.address,
      msg: this.msg([AfdpKind.Join, inc.xfer, ...ranges], inc.cookie),
    });
  }

  /**
   * Our sender did not take our Join: it came from an address its cookie was not for. Join again
   * with the cookie of the address it saw, once per cookie: a Challenge carrying the cookie we
   * already echoed means our Joins leave from elsewhere than it reaches, and answering it again
   * would only bounce Joins and Challenges between us.
   */
  private onChallenge(h: unknown[], cookie: Uint8Array, from: MemberId): void {
    const xfer = headerUint(h[1], 'afdp', 'xfer');
    const inc = this.inc;
    if (!inc || inc.xfer !== xfer || inc.sender !== from || cookie.length !== COOKIE_BYTES) return;
    if (Buffer.from(cookie).equals(inc.cookie)) return;
    inc.cookie = cookie.slice();
    this.join(inc);
  }

  private onData(xfer: number, idx: number, payload: Uint8Array, from: MemberId, cast: boolean): void {
    const inc = this.inc;
    if (!inc || inc.xfer !== xfer || inc.sender !== from || inc.done) return;
    if (idx >= inc.got.length) throw new DecodeError('DECODE_BAD_SHAPE', 'afdp: index past the end');
    const want = idx === inc.got.length - 1 ? inc.size - idx * inc.chunkSize : inc.chunkSize;
    if (payload.length !== want) throw new DecodeError('DECODE_BAD_SHAPE', 'afdp: chunk of the wrong size');
    if (cast) inc.castsHeard++;
    const now = this.ctx.now();
    // The first Data (or the first after silence) is reported at once: the sender learns early
    // that we hear it (the mode it serves us by waits on it).
    const quiet = !this.reporting(inc);
    inc.heardAt = now;
    inc.provenAt = now;
    if (quiet) this.sendStatus();
    inc.arrivedSinceCheck = true;
    if (idx > inc.highest) inc.highest = idx;
    if (inc.got[idx]) {
      this.counters.dupData++;
      return;
    }
    try {
      inc.sink.write(idx * inc.chunkSize, payload);
    } catch (e) {
      this.sinkFailed(xfer, e);
      return;
    }
    inc.got[idx] = 1;
    inc.have++;
    inc.quiet.delete(idx);
    if (inc.have === inc.got.length) this.complete(inc);
  }

  /**
   * The owner's sink threw: an IO failure of this receiver, not a bad packet and not a bug of the
   * layer. Reported as an error effect it ended the process (a receiver beside a replica, the
   * replica too); the transfer ends here instead, as a Cut ends it, and the sender drops us as
   * silent.
   */
  private sinkFailed(xfer: number, e: unknown): void {
    if (this.inc?.xfer === xfer) this.inc = undefined;
    for (const t of ['check', 'nak', 'status']) this.ctx.clearTimer(t);
    this.emitEvent({ type: 'failed', xfer, reason: e instanceof Error ? e.message : String(e) });
  }

  private complete(inc: Incoming): void {
    let digest: Uint8Array;
    try {
      digest = inc.sink.digest();
    } catch (e) {
      this.sinkFailed(inc.xfer, e);
      return;
    }
    if (!Buffer.from(digest).equals(inc.digest)) {
      // Every chunk was authenticated by com, so this is a sender bug or a changed file: start over.
      this.emitEvent({ type: 'corrupt', xfer: inc.xfer });
      inc.got.fill(0);
      inc.have = 0;
      inc.held = [];
      inc.sink.reset?.();
      return;
    }
    inc.done = true;
    const blob = inc.sink.bytes?.() ?? EMPTY;
    inc.sink = RELEASED; // delivered: the layer keeps nothing of it
    inc.finTries = 50;
    this.completed.add(inc.xfer);
    this.ctx.clearTimer('check');
    this.ctx.clearTimer('nak');
    this.sendStatus();
    const ms = this.ctx.now() - inc.joinedAt;
    this.emitEvent({ type: 'received', xfer: inc.xfer, from: inc.sender, bytes: inc.size, ms });
    this.ctx.passUp({
      type: 'deliver',
      msg: { headers: [], payload: blob },
      from: inc.sender,
      cast: true,
      meta: {},
    });
  }

  /** Within `deadMs` of its sender's last Data (or verified Announce): see `Incoming.provenAt`. */
  private reporting(inc: Incoming): boolean {
    return this.ctx.now() - inc.provenAt < this.o.deadMs;
  }

  /**
   * Our progress to the sender, if we report to it now; `answer`: in reply to a packet just
   * heard from its address (one Status for one packet, whatever it is).
   */
  private sendStatus(answer = false): void {
    const inc = this.inc;
    if (!inc || !(answer || this.reporting(inc))) return;
    const header = [
      AfdpKind.Status,
      inc.xfer,
      inc.done ? inc.size : inc.have,
      inc.castsHeard,
      inc.done ? 1 : 0,
    ];
    this.ctx.passDown({ type: 'send', to: inc.sender, msg: this.msg(header), qos: { order: 'unreliable' } });
  }

  /** AFDP's sequence check every T_w: a gap below the highest index, or silence while missing. */
  private check(): void {
    const inc = this.inc;
    if (!inc || inc.done) return;
    const missing = inc.have < inc.got.length && (inc.highest + 1 > inc.have || !inc.arrivedSinceCheck);
    inc.arrivedSinceCheck = false;
    if (missing && !inc.nakArmed) {
      inc.nakArmed = true;
      this.ctx.setTimer('nak', this.ctx.random() * this.o.nakDelayMs);
    }
    this.ctx.setTimer('check', this.o.checkMs);
  }

  private nak(): void {
    const inc = this.inc;
    if (!inc) return;
    inc.nakArmed = false;
    if (inc.done || !this.reporting(inc)) return;
    const now = this.ctx.now();
    // After silence the tail is missing too; otherwise only gaps below the highest index seen.
    const upTo = inc.arrivedSinceCheck ? inc.highest : inc.got.length - 1;
    const ask: number[] = [];
    let suppressed = false;
    for (let i = 0; i <= upTo && ask.length < this.o.maxNak; i++) {
      if (inc.got[i]) continue;
      const q = inc.quiet.get(i);
      if (q !== undefined && q > now) {
        suppressed = true;
        continue;
      }
      ask.push(i);
    }
    if (suppressed) this.counters.naksSuppressed++;
    if (ask.length === 0) return;
    for (const i of ask) inc.quiet.set(i, now + this.o.suppressMs);
    this.counters.naksSent++;
    const header: unknown[] = [AfdpKind.Nak, inc.xfer, ...toRanges(ask)];
    // A NAK is cast so other receivers hear it and hold theirs back; a receiver that hears no
    // casts cannot expect its own to reach anyone either, so it asks the sender point to point.
    if (inc.castsHeard === 0)
      this.ctx.passDown({
        type: 'send',
        to: inc.sender,
        msg: this.msg(header),
        qos: { order: 'unreliable' },
      });
    else this.ctx.passDown({ type: 'cast', msg: this.msg(header), qos: { order: 'unreliable' } });
  }

  timer(key: string): void {
    switch (key) {
      case 'tx':
        this.transmit();
        return;
      case 'announce':
        if (this.out && !this.out.finished) this.announce();
        return;
      case 'watch':
        this.watch();
        return;
      case 'check':
        this.check();
        return;
      case 'nak':
        this.nak();
        return;
      case 'status': {
        const inc = this.inc;
        if (!inc) return;
        if (inc.done) {
          if (inc.finTries <= 0) return;
          inc.finTries--;
        }
        this.sendStatus();
        this.ctx.setTimer('status', this.o.statusMs);
        return;
      }
      default:
        return;
    }
  }

  stats(): Record<string, number> {
    const o = this.out;
    return {
      ...this.counters,
      gapMicros: Math.round(this.gap * 1000),
      ...(o
        ? {
            sent: o.sent,
            resent: o.resent,
            skipped: o.skipped,
            next: o.next,
            count: o.count,
            receivers: o.peers.size,
          }
        : {}),
      ...(this.inc ? { have: this.inc.done ? -1 : this.inc.have, castsHeard: this.inc.castsHeard } : {}),
    };
  }

  /** The current inter-packet gap (ms), for tests of the rate rule. */
  gapMs(): number {
    return this.gap;
  }
}

const EMPTY = new Uint8Array(0);
/** A finished transfer's sink: it holds nothing (a late duplicate is dropped before it). */
const RELEASED: BlobSink = { write: () => {}, digest: () => EMPTY };

/** 16 bytes from the injected random source, 32 bits a draw (a seeded source gives no more). */
function drawSecret(ctx: LayerContext): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 16; i += 4) view.setUint32(i, Math.floor(ctx.random() * 0x100000000) >>> 0);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function nakIndices(h: unknown[], count: number, max: number): number[] {
  const out: number[] = [];
  for (let i = 2; i + 1 < h.length && out.length < max; i += 2) {
    const a = headerUint(h[i], 'afdp', 'nak from');
    const b = headerUint(h[i + 1], 'afdp', 'nak to');
    if (b < a || b >= count) throw new DecodeError('DECODE_BAD_SHAPE', 'afdp: nak range out of bounds');
    for (let j = a; j <= b && out.length < max; j++) out.push(j);
  }
  return out;
}

/** The chunks a receiver's Join names as held: its ranges, merged, looked up by binary search. */
interface HeldChunks {
  has(index: number): boolean;
  /** Every chunk of the transfer is held. */
  readonly all: boolean;
  /** The lowest index not held (the count when all are). */
  readonly firstMissing: number;
}

/**
 * A Join's held ranges (`[2, xfer, a0, b0, ...]`, at most {@link MAX_HELD_RANGES} read), kept as
 * ranges. Expanded to one Set entry per chunk, as they were, a Join naming [0, count − 1] cost
 * the sender a Set of the whole blob's chunks per receiver (about 40 MB for 1.3 million), and
 * anyone who learnt the transfer's id could send one from any number of invented receivers.
 */
function heldRanges(h: unknown[], count: number): HeldChunks {
  const pairs: [number, number][] = [];
  for (let i = 2; i + 1 < h.length && pairs.length < MAX_HELD_RANGES; i += 2) {
    const a = headerUint(h[i], 'afdp', 'held from');
    const b = headerUint(h[i + 1], 'afdp', 'held to');
    if (b < a || b >= count) throw new DecodeError('DECODE_BAD_SHAPE', 'afdp: held range out of bounds');
    pairs.push([a, b]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const [a, b] of pairs) {
    const last = ends.length - 1;
    if (last >= 0 && a <= ends[last]! + 1) ends[last] = Math.max(ends[last]!, b);
    else {
      starts.push(a);
      ends.push(b);
    }
  }
  return {
    all: starts.length === 1 && starts[0] === 0 && ends[0] === count - 1,
    firstMissing: starts[0] === 0 ? ends[0]! + 1 : 0,
    has(index) {
      // The last range starting at or before `index`.
      let lo = 0;
      let hi = starts.length - 1;
      let at = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (starts[mid]! <= index) {
          at = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return at >= 0 && index <= ends[at]!;
    },
  };
}

function toRanges(sorted: readonly number[]): number[] {
  const out: number[] = [];
  for (const i of sorted) {
    if (out.length > 0 && out[out.length - 1] === i - 1) out[out.length - 1] = i;
    else out.push(i, i);
  }
  return out;
}

/** The afdp layer: see the file comment. Options in {@link AfdpOptions}. */
export const afdp: LayerFactory<AfdpOptions> = {
  name: 'afdp',
  provides: ['bulk'],
  requires: ['transport'],
  create: (ctx, o) => {
    const opts = { ...AFDP_DEFAULTS, ...o } as AfdpOptions;
    if (!(opts.chunk > 0 && opts.chunk <= MAX_CHUNK) || !(opts.minGapMs > 0) || opts.maxGapMs < opts.minGapMs)
      throw new BulkError('BULK_OPTION', `afdp: chunk must be 1..${MAX_CHUNK} and 0 < minGapMs <= maxGapMs`);
    if (opts.catalog && opts.catalog.length > MAX_CATALOG)
      throw new BulkError('BULK_OPTION', `afdp: a catalog is at most ${MAX_CATALOG} bytes`);
    if (!(opts.floorBytesPerSec >= 0 && Number.isFinite(opts.floorBytesPerSec)) || !(opts.floorGraceMs >= 0))
      throw new BulkError('BULK_OPTION', 'afdp: floorBytesPerSec and floorGraceMs must be numbers >= 0');
    return new Afdp(ctx, opts);
  },
};
