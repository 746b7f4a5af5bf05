import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { AuthConfigError, DecodeError } from './errors.js';
import { encodePacket, FIXED_HEADER_BYTES, type FixedHeader, Flags, type Packet } from './packet.js';

/**
 * Packet authentication with a shared group key: one module for the member stack (`com`) and
 * the client path (RPC client and replica). Sans-IO: HMAC is a pure function of key and bytes,
 * the counter is a plain integer, and nothing here reads a clock.
 *
 * A keyed sender sets the `Authenticated` flag, tag length {@link AUTH_TAG_BYTES}, and writes
 * the tag at offset 24:
 *
 * ```
 * 24  counter (u64, big-endian): this sender's packet number, 0, 1, 2, ... per PacketAuth
 * 32  MAC (16 bytes): HMAC-SHA256(key, the whole packet with these 16 bytes zeroed), truncated
 * 48  body
 * ```
 *
 * The MAC covers the fixed header (type, flags, tag length, group id, sender endpoint, body
 * length), the counter and the body. A receiver with the key refuses (`DECODE_UNAUTHENTICATED`)
 * a packet without the flag, with another tag length, or whose MAC does not verify; then
 * (`DECODE_REPLAYED`) one whose counter its per-sender-endpoint window already accepted or that
 * lies {@link REPLAY_WINDOW} or more below the highest counter accepted from that endpoint.
 * Documented in docs/protocol.md ("Authentication").
 */

export const AUTH_COUNTER_BYTES = 8;
export const AUTH_MAC_BYTES = 16;
/** Tag length of an authenticated packet: counter + MAC. */
export const AUTH_TAG_BYTES = AUTH_COUNTER_BYTES + AUTH_MAC_BYTES;
/** Shortest group key accepted, in bytes (UTF-8 for a string key). */
export const MIN_KEY_BYTES = 16;
/** Counters per sender the replay window covers below the highest one accepted. */
export const REPLAY_WINDOW = 1024;
/** Sender endpoints whose windows a receiver keeps; the least recently heard goes first. */
export const MAX_TRACKED_SENDERS = 4096;

/** A shared group key: a string (its UTF-8 bytes) or bytes, at least {@link MIN_KEY_BYTES} long. */
export type AuthKey = string | Uint8Array;

const MAC_OFFSET = FIXED_HEADER_BYTES + AUTH_COUNTER_BYTES;
const BODY_OFFSET = FIXED_HEADER_BYTES + AUTH_TAG_BYTES;
const ZERO_MAC = new Uint8Array(AUTH_MAC_BYTES);
const TWO_32 = 2 ** 32;

/** The key's bytes; throws {@link AuthConfigError} (`AUTH_BAD_KEY`) for anything unusable. */
/**
 * A short public name of a key: 8 bytes of HMAC-SHA256(key, "troupe/key-id"), in hex. Two
 * configurations can be compared by it without revealing or copying the key.
 */
export function authKeyId(key: AuthKey): string {
  return createHmac('sha256', authKeyBytes(key)).update('troupe/key-id').digest('hex').slice(0, 16);
}

export function authKeyBytes(key: AuthKey): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key === 'string') bytes = new TextEncoder().encode(key);
  else if (key instanceof Uint8Array) bytes = Uint8Array.from(key);
  else throw new AuthConfigError('the group key must be a string or a Uint8Array');
  if (bytes.length < MIN_KEY_BYTES)
    throw new AuthConfigError(
      `the group key has ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are required`,
    );
  return bytes;
}

/**
 * IPsec-style anti-replay window over one sender's counters: the highest counter accepted and
 * a bitmap of the `size` counters ending at it.
 */
export class ReplayWindow {
  private top = -1;
  private readonly bits: Uint32Array;

  constructor(readonly size = REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0)
      throw new RangeError('replay window size must be a positive multiple of 32');
    this.bits = new Uint32Array(size / 32);
  }

  /** Highest counter accepted, -1 before the first. */
  get highest(): number {
    return this.top;
  }

  /** What accepting `c` would be; changes nothing. */
  check(c: number): 'fresh' | 'duplicate' | 'too-old' {
    if (c > this.top) return 'fresh';
    if (this.top - c >= this.size) return 'too-old';
    return this.has(c) ? 'duplicate' : 'fresh';
  }

  /** Records `c` as accepted (call after {@link check} said `fresh`). */
  mark(c: number): void {
    if (c > this.top) {
      if (c - this.top >= this.size) this.bits.fill(0);
      else for (let k = this.top + 1; k < c; k++) this.clear(k); // at most size - 1 steps
      this.top = c;
    }
    const i = c % this.size;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }

  private has(c: number): boolean {
    const i = c % this.size;
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  private clear(c: number): void {
    const i = c % this.size;
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
  }
}

export interface PacketAuthOptions {
  /** Replay window per sender, in counters (multiple of 32). Default {@link REPLAY_WINDOW}. */
  window?: number;
  /** Sender endpoints tracked at once. Default {@link MAX_TRACKED_SENDERS}. */
  maxSenders?: number;
}

/** The fields {@link PacketAuth.encode} takes: a packet without its tag. */
export type UnsignedPacket = Omit<Packet, 'tag'>;

/**
 * Signs outgoing packets and verifies incoming ones with one group key. Each instance is one
 * sending endpoint's counter (the stack's `com` of one incarnation, a client, a replica) and one
 * receiver's replay windows.
 *
 * The counter starts at 0. The replay state is keyed by sender endpoint (node, incarnation), and
 * an endpoint names exactly one incarnation: a `MemberCore` draws a random 32-bit node and
 * counts incarnations up from 1 at every restart, a client draws a random node. The stack
 * relies on that already (nak streams, gms membership are keyed by it), so a counter need not
 * be unique across incarnations, and 0 keeps the simulator deterministic. A random start would
 * not make a reused endpoint work either: the new incarnation would be refused as a replay with
 * probability about 1/2 instead of 1, erratic instead of loud.
 */
export class PacketAuth {
  private readonly key: KeyObject;
  private readonly windowSize: number;
  private readonly maxSenders: number;
  private counter = 0;
  /** Sender endpoint (`node.inc`) → window; Map order is recency, least recent first. */
  private readonly windows = new Map<string, ReplayWindow>();
  private evicted = 0;

  /** {@link authKeyId} of its key. */
  readonly keyId: string;

  constructor(key: AuthKey, opts: PacketAuthOptions = {}) {
    this.key = createSecretKey(authKeyBytes(key));
    this.keyId = authKeyId(key);
    this.windowSize = opts.window ?? REPLAY_WINDOW;
    this.maxSenders = opts.maxSenders ?? MAX_TRACKED_SENDERS;
    if (!Number.isInteger(this.maxSenders) || this.maxSenders < 1)
      throw new AuthConfigError('maxSenders must be a positive integer');
    new ReplayWindow(this.windowSize); // validates the size
  }

  /** The counter the next packet will carry. */
  get nextCounter(): number {
    return this.counter;
  }

  /** Encodes `p` with the `Authenticated` flag and a tag: counter, then the truncated MAC. */
  encode(p: UnsignedPacket): Uint8Array {
    const c = this.counter;
    if (c >= Number.MAX_SAFE_INTEGER) throw new RangeError('packet counter exhausted');
    this.counter = c + 1;
    const tag = new Uint8Array(AUTH_TAG_BYTES);
    const v = new DataView(tag.buffer);
    v.setUint32(0, Math.floor(c / TWO_32));
    v.setUint32(4, c >>> 0);
    const out = encodePacket({ ...p, flags: p.flags | Flags.Authenticated, tag });
    out.set(this.mac(out), MAC_OFFSET);
    return out;
  }

  /**
   * Verifies `bytes` (whose fixed header `h` the caller parsed with `decodeFixedHeader`) and
   * records its counter. Throws {@link DecodeError} `DECODE_UNAUTHENTICATED` or
   * `DECODE_REPLAYED`, and nothing else; replay state changes only for a packet that verifies.
   *
   * @returns whether the packet is its sender's newest yet (its counter above every one accepted
   * before). Only such a packet may teach the receiver where its sender is: one the sender sent
   * to another member, replayed here from elsewhere, fills a gap below the newest and verifies.
   */
  verify(bytes: Uint8Array, h: FixedHeader): boolean {
    if ((h.flags & Flags.Authenticated) === 0)
      throw new DecodeError('DECODE_UNAUTHENTICATED', 'packet carries no authentication tag');
    if (h.tagLength !== AUTH_TAG_BYTES)
      throw new DecodeError(
        'DECODE_UNAUTHENTICATED',
        `authentication tag of ${h.tagLength} bytes, expected ${AUTH_TAG_BYTES}`,
      );
    const expected = this.mac(bytes);
    const got = bytes.subarray(MAC_OFFSET, BODY_OFFSET);
    if (!timingSafeEqual(expected, got))
      throw new DecodeError('DECODE_UNAUTHENTICATED', 'authentication tag does not verify');
    const v = new DataView(bytes.buffer, bytes.byteOffset + FIXED_HEADER_BYTES, AUTH_COUNTER_BYTES);
    const hi = v.getUint32(0);
    if (hi >= 2 ** 21) throw new DecodeError('DECODE_UNAUTHENTICATED', 'packet counter out of range');
    const c = hi * TWO_32 + v.getUint32(4);
    const id = `${h.sender.node >>> 0}.${h.sender.inc >>> 0}`;
    let w = this.windows.get(id);
    if (w)
      this.windows.delete(id); // re-inserted last: most recently heard
    else w = new ReplayWindow(this.windowSize);
    this.windows.set(id, w);
    while (this.windows.size > this.maxSenders) {
      this.windows.delete(this.windows.keys().next().value as string);
      this.evicted++;
    }
    const verdict = w.check(c);
    if (verdict === 'duplicate')
      throw new DecodeError('DECODE_REPLAYED', `counter ${c} of ${id} was already accepted`);
    if (verdict === 'too-old')
      throw new DecodeError(
        'DECODE_REPLAYED',
        `counter ${c} of ${id} is older than the replay window (highest ${w.highest})`,
      );
    const newest = c > w.highest;
    w.mark(c);
    return newest;
  }

  /** `authSenders`: endpoints tracked now; `authEvicted`: windows dropped to stay within the cap. */
  stats(): { authSenders: number; authEvicted: number } {
    return { authSenders: this.windows.size, authEvicted: this.evicted };
  }

  /** HMAC-SHA256 over the packet with the MAC field taken as zeros, truncated. */
  private mac(bytes: Uint8Array): Buffer {
    const h = createHmac('sha256', this.key);
    h.update(bytes.subarray(0, MAC_OFFSET));
    h.update(ZERO_MAC);
    h.update(bytes.subarray(BODY_OFFSET));
    return h.digest().subarray(0, AUTH_MAC_BYTES);
  }
}

/**
 * What a receiver without a key does with a packet: one with the `Authenticated` flag is
 * refused (`DECODE_UNAUTHENTICATED`). A group with a key on some members and not on others is
 * misconfigured; both sides then refuse each other's packets and count it, instead of the
 * key-less members silently reading (and half-joining) an authenticated group.
 */
export function refuseAuthenticated(h: FixedHeader): void {
  if ((h.flags & Flags.Authenticated) !== 0)
    throw new DecodeError(
      'DECODE_UNAUTHENTICATED',
      'packet is authenticated but this endpoint has no group key',
    );
}

/**
 * One receive path's verifier: with a key, {@link PacketAuth.verify}; without,
 * {@link refuseAuthenticated}. Returns whether the packet may move its sender's address (always,
 * without a key: nothing is authenticated then).
 */
export function checkAuth(auth: PacketAuth | undefined, bytes: Uint8Array, h: FixedHeader): boolean {
  if (auth) return auth.verify(bytes, h);
  refuseAuthenticated(h);
  return true;
}
