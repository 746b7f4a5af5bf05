import { TroupeError } from '../errors.js';
import { headerUint, popKindHeader } from '../stack/header.js';
import type { MemberId } from '../stack/member.js';
import { requirePositive } from '../stack/options.js';
import {
  type DownEvent,
  deliverWith,
  downWith,
  fromHeaders,
  type Layer,
  type LayerContext,
  type LayerFactory,
  message,
  pushHeader,
  type UpEvent,
} from '../stack/types.js';
import { DecodeError } from '../wire/errors.js';

/** Header kinds of the frag layer (first element of its header). */
export const FragKind = {
  /** [0] a whole message; the headers of the layers above follow. */
  Whole: 0,
  /** [1, count, index, total] fragment `index` of `count` of a message of `total` payload bytes.
   * Fragment 0 carries the headers of the layers above; the others carry only this header. */
  Fragment: 1,
} as const;

/** The header of a whole message: one array for all (nothing writes to a header). */
const WHOLE: readonly unknown[] = Object.freeze([FragKind.Whole]);

export interface FragOptions {
  /** Payloads larger than this many bytes are split into fragments of at most this size. */
  fragSize: number;
  /** Largest payload the layer sends or reassembles (bytes). */
  maxMessage: number;
}

const DEFAULTS: FragOptions = { fragSize: 60_000, maxMessage: 64 * 1024 * 1024 };
/** Streams of senders outside the view kept at once (nak keeps as many: `maxStrangers`). */
const MAX_STRANGER_STREAMS = 64;

/** A message being reassembled from one sender's stream. */
interface Partial {
  count: number;
  total: number;
  /** Index the next fragment must carry. */
  next: number;
  /** Headers of the layers above, from fragment 0. */
  headers: readonly unknown[];
  /** The bytes so far, copied in: `buf[0..bytes)`. Grown by doubling (a member's started at room
   * for `MEMBER_PRESIZE` fragments), never past `total`. A list
   * of the fragments' own payloads held, per one-byte fragment, a view (~100 bytes of heap) and
   * the whole datagram it came in: 100x what the strangers' bound counted (see `bound`). */
  buf: Uint8Array;
  bytes: number;
}

/** Smallest buffer a partial message starts with (unless its total is smaller). */
const MIN_PARTIAL_BUFFER = 64 * 1024;
/** A member's partial message starts with room for this many fragments the size of its first. */
const MEMBER_PRESIZE = 32;

/** What a receive stream remembers between messages. */
interface InStream {
  partial: Partial | undefined;
  /** The rest of a message whose start we never saw (we joined, or the layer below skipped it):
   * its remaining fragments are dropped quietly rather than refused. */
  skip: { count: number; total: number; next: number } | undefined;
  /** meta.seq of the last message seen on this stream (undefined when the layer below gives none). */
  lastSeq: number | undefined;
}

/**
 * FRAG: splits a payload larger than `fragSize` into fragments and reassembles them at the
 * receiver. It sits above a reliable FIFO layer (nak), so the fragments of one message arrive
 * from each sender's stream in order and without loss; reassembly therefore needs only one
 * message in progress per (sender, cast | point-to-point) stream and no reordering buffer.
 *
 * The reassembled message carries the headers of fragment 0 (the layers above see exactly what
 * was sent) and the delivery meta of the last fragment.
 */
class Frag implements Layer {
  /** Keyed `${member}|c` (its cast stream) and `${member}|p` (its point-to-point stream to us). */
  private readonly streams = new Map<string, InStream>();
  /** The two stream keys of each member of the view, built once per view rather than per
   * message. */
  private memberKeys = new Map<MemberId, readonly [cast: string, p2p: string]>();
  /** Members of the latest view passed down; undefined before one (every sender is a stranger
   * then, as in nak: a joiner held every invented sender's partial message, unbounded). */
  private members: ReadonlySet<string> | undefined;
  /** Keys of `streams` whose sender is outside the view, least recently heard first. */
  private readonly strangers = new Map<string, true>();
  private readonly c = {
    fragmented: 0,
    fragmentsSent: 0,
    reassembled: 0,
    fragmentsReceived: 0,
    /** Partial messages abandoned because the stream below skipped messages (a nak `lost`). */
    abandoned: 0,
    /** Fragments dropped because the start of their message was never seen (join point, loss). */
    orphans: 0,
    /** Streams (and partial messages) of senders outside the view dropped to stay within
     * {@link MAX_STRANGER_STREAMS} and `maxMessage` bytes held for them. */
    strangersDropped: 0,
  };

  constructor(
    private readonly ctx: LayerContext,
    private readonly o: FragOptions,
  ) {}

  down(ev: DownEvent): void {
    switch (ev.type) {
      case 'cast':
      case 'send': {
        const size = ev.msg.payload.length;
        if (size > this.o.maxMessage)
          throw new TroupeError(
            'MESSAGE_TOO_LARGE',
            `frag: a ${size}-byte message exceeds maxMessage (${this.o.maxMessage})`,
          );
        if (size <= this.o.fragSize) {
          this.ctx.passDown(downWith(ev, pushHeader(ev.msg, WHOLE)));
          return;
        }
        // An unreliable message may lose any fragment, and the receiver could never tell which
        // message a later fragment belongs to: fragmenting it would turn loss into garbage.
        if (ev.qos.order === 'unreliable')
          throw new TroupeError(
            'MESSAGE_TOO_LARGE',
            `frag: an unreliable ${size}-byte message exceeds fragSize (${this.o.fragSize}) and is not fragmented`,
          );
        this.fragment(ev);
        return;
      }
      case 'forget':
        for (const key of [`${ev.member}|c`, `${ev.member}|p`]) {
          this.streams.delete(key);
          this.strangers.delete(key);
        }
        this.ctx.passDown(ev);
        return;
      case 'view':
        this.members = new Set(ev.view.members);
        this.memberKeys = new Map(ev.view.members.map((m) => [m, [`${m}|c`, `${m}|p`]]));
        for (const m of ev.view.members) for (const k of [`${m}|c`, `${m}|p`]) this.strangers.delete(k);
        this.ctx.passDown(ev);
        return;
      default:
        this.ctx.passDown(ev);
    }
  }

  private fragment(ev: Extract<DownEvent, { type: 'cast' | 'send' }>): void {
    const { payload } = ev.msg;
    const total = payload.length;
    const size = this.o.fragSize;
    const count = Math.ceil(total / size);
    this.c.fragmented++;
    for (let i = 0; i < count; i++) {
      // subarray shares the sender's buffer: no copy until the bottom layer encodes the packet.
      const part = payload.subarray(i * size, Math.min(total, (i + 1) * size));
      // The first fragment carries the headers of the layers above.
      const base = i === 0 ? fromHeaders(ev.msg.headers, part) : message(part);
      const msg = pushHeader(base, [FragKind.Fragment, count, i, total]);
      this.c.fragmentsSent++;
      this.ctx.passDown(downWith(ev, msg));
    }
  }

  up(ev: UpEvent): void {
    if (ev.type !== 'deliver') {
      this.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'frag');
    const keys = this.memberKeys.get(ev.from);
    const key = keys ? keys[ev.cast ? 0 : 1] : `${ev.from}|${ev.cast ? 'c' : 'p'}`;
    // No sequence number: an unreliable message (heartbeats, repair requests), outside the
    // sender's reliable stream. It says nothing of a fragment run in that stream: taken for part
    // of it, a heartbeat arriving between two fragments of a large cast dropped the cast here
    // while every other member delivered it (FINDINGS 40).
    const seq = ev.meta.seq;
    if (kind === FragKind.Whole) {
      if (seq !== undefined) {
        this.onWhole(key, seq);
        if (!this.members?.has(ev.from)) this.bound(key, 0);
      }
      this.ctx.passUp(deliverWith(ev, rest));
      return;
    }
    if (kind !== FragKind.Fragment) throw new DecodeError('DECODE_BAD_SHAPE', `frag: unknown kind ${kind}`);
    // Senders fragment only reliable messages: a fragment without a place in the stream is refused
    // before it can touch the run in progress.
    if (seq === undefined)
      throw new DecodeError('DECODE_BAD_SHAPE', 'frag: a fragment outside the reliable stream');
    let count: number;
    let index: number;
    let total: number;
    try {
      count = headerUint(h[1], 'frag', 'count');
      index = headerUint(h[2], 'frag', 'index');
      total = headerUint(h[3], 'frag', 'total');
      if (count < 2 || index >= count || count > total)
        throw new DecodeError('DECODE_BAD_SHAPE', `frag: bad fragment ${index}/${count} of ${total} bytes`);
      if (total > this.o.maxMessage)
        throw new DecodeError(
          'DECODE_OVERSIZED',
          `frag: ${total} bytes exceed maxMessage ${this.o.maxMessage}`,
        );
    } catch (e) {
      // The stream can no longer be trusted to continue the message in progress: drop it, so a
      // bad fragment cannot splice foreign bytes into a later reassembly.
      this.dropPartial(key);
      throw e;
    }
    this.c.fragmentsReceived++;
    const s = this.stream(key);
    const stranger = !this.members?.has(ev.from);
    if (stranger) this.bound(key, rest.payload.length);
    // A sequence gap below us (nak gave up on a range and reported it lost) explains a broken
    // message: drop what we held and resynchronise on the next fragment 0, without blaming the sender.
    const gap = s.lastSeq !== undefined && seq !== s.lastSeq + 1;
    const first = s.lastSeq === undefined;
    s.lastSeq = seq;
    if (gap && s.partial) {
      s.partial = undefined;
      this.c.abandoned++;
    }
    const skip = s.skip;
    s.skip = undefined;
    let p = s.partial;
    if (!p) {
      if (index !== 0) {
        const continues = skip && skip.next === index && skip.count === count && skip.total === total;
        if (gap || first || continues) {
          this.c.orphans++;
          if (index + 1 < count) s.skip = { count, total, next: index + 1 };
          return;
        }
        throw new DecodeError('DECODE_BAD_SHAPE', `frag: fragment ${index} without fragment 0`);
      }
      p = { count, total, next: 0, headers: rest.headers, buf: EMPTY, bytes: 0 };
      s.partial = p;
    } else if (index !== p.next || count !== p.count || total !== p.total) {
      s.partial = undefined;
      throw new DecodeError(
        'DECODE_BAD_SHAPE',
        `frag: fragment ${index}/${count} of ${total} where ${p.next}/${p.count} of ${p.total} was due`,
      );
    }
    const chunk = rest.payload;
    const last = index === count - 1;
    // Every fragment carries bytes; the last one brings the sum exactly to `total`.
    if (chunk.length === 0 || p.bytes + chunk.length > total || (last && p.bytes + chunk.length !== total)) {
      s.partial = undefined;
      throw new DecodeError('DECODE_BAD_LENGTH', `frag: fragment ${index} does not fit ${total} bytes`);
    }
    const need = p.bytes + chunk.length;
    if (need > p.buf.length) {
      // Doubling, capped at the total, so what a sender holds follows the bytes it sent, not the
      // total it claims (FINDINGS 154). A member's buffer starts at room for MEMBER_PRESIZE
      // fragments of the first one's size: a message of that many fragments (a 256 KiB state
      // chunk is 5) takes one buffer and no copy, where doubling cost it three allocations and
      // 448 KiB of copies; sized at its total outright, one forged byte reserved maxMessage.
      const presize = stranger ? 0 : chunk.length * MEMBER_PRESIZE;
      const grown = new Uint8Array(
        Math.min(total, Math.max(need, 2 * p.buf.length, MIN_PARTIAL_BUFFER, presize)),
      );
      grown.set(p.buf.subarray(0, p.bytes));
      p.buf = grown;
    }
    p.buf.set(chunk, p.bytes);
    p.bytes = need;
    // A stranger's buffer may have grown past the bytes the bound counted on arrival (doubling,
    // or a first fragment's 64 KiB): counted again as held.
    if (stranger) this.bound(key, 0);
    p.next++;
    if (!last) return;
    s.partial = undefined;
    const whole = p.buf;
    this.c.reassembled++;
    this.ctx.passUp(deliverWith(ev, fromHeaders(p.headers, whole)));
  }

  /** A whole message in a stream where a fragmented one is in progress means the rest was lost. */
  private onWhole(key: string, seq: number): void {
    const s = this.streams.get(key);
    if (!s) {
      this.streams.set(key, { partial: undefined, skip: undefined, lastSeq: seq });
      return;
    }
    const gap = s.lastSeq !== undefined && seq !== s.lastSeq + 1;
    s.lastSeq = seq;
    s.skip = undefined;
    if (!s.partial) return;
    // Either the stream below skipped the rest of the run (gap), or the sender interleaved a
    // whole message into it (a bug or a forgery). The whole message itself is fine and is delivered.
    s.partial = undefined;
    this.c.abandoned++;
    this.ctx.trace(
      () => `${key}: whole message ${gap ? 'after a gap' : 'inside a fragment run'}; partial dropped`,
    );
  }

  /**
   * A sender outside the view (a joiner whose view we have not installed yet, or anyone inventing
   * ids) may hold at most {@link MAX_STRANGER_STREAMS} streams here and, over all of them,
   * `maxMessage` bytes of partial messages: the oldest go first. Without this, 200 invented
   * senders each beginning a 60 MB cast held 57 MiB for good (session 19's review).
   */
  private bound(key: string, adding: number): void {
    this.strangers.delete(key);
    this.strangers.set(key, true);
    const drop = (k: string) => {
      this.streams.delete(k);
      this.strangers.delete(k);
      this.c.strangersDropped++;
    };
    while (this.strangers.size > MAX_STRANGER_STREAMS) drop(this.strangers.keys().next().value!);
    let held = adding;
    // What a partial holds is its buffer (up to twice the bytes received, at most its total).
    for (const k of this.strangers.keys()) held += this.streams.get(k)?.partial?.buf.length ?? 0;
    for (const k of this.strangers.keys()) {
      if (held <= this.o.maxMessage || k === key) break;
      held -= this.streams.get(k)?.partial?.buf.length ?? 0;
      drop(k);
    }
  }

  private dropPartial(key: string): void {
    const s = this.streams.get(key);
    if (s) s.partial = undefined;
  }

  private stream(key: string): InStream {
    let s = this.streams.get(key);
    if (!s) {
      s = { partial: undefined, skip: undefined, lastSeq: undefined };
      this.streams.set(key, s);
    }
    return s;
  }

  stats(): Record<string, number> {
    let partials = 0;
    let partialBytes = 0;
    for (const s of this.streams.values()) {
      if (!s.partial) continue;
      partials++;
      partialBytes += s.partial.bytes;
    }
    return { ...this.c, partials, partialBytes };
  }
}

const EMPTY = new Uint8Array(0);

export const frag: LayerFactory<FragOptions> = {
  name: 'frag',
  provides: ['frag'],
  requires: ['reliable', 'fifo'],
  create: (ctx, o) => {
    const opts = { ...DEFAULTS, ...o };
    requirePositive('frag', opts, Object.keys(opts), true);
    return new Frag(ctx, opts);
  },
};
