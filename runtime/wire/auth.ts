import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hash,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { AuthConfigError, DecodeError } from './errors.js';
import {
  decodePacket,
  type Endpoint,
  encodePacket,
  FIXED_HEADER_BYTES,
  type FixedHeader,
  Flags,
  type Packet,
  PacketType,
  readU32,
  writeU32,
} from './packet.js';

/**
 * Packet protection with a shared group key: one module for the member stack (`com`) and the
 * client path (RPC client and replica). Two modes, both with the same replay protection:
 *
 * - authentication (`Authenticated` flag, tag length {@link AUTH_TAG_BYTES}):
 *   ```
 *   24  counter (u64): this sender's packet number, 0, 1, 2, ... per PacketAuth
 *   32  time (u32): the sender's wall clock, in seconds since 1970
 *   36  key id (u32): the first 4 bytes of the signing key's public id
 *   40  MAC (16): HMAC-SHA256(mac key, receiver || the packet with these 16 bytes left out)
 *   56  body
 *   ```
 * - encryption (`Authenticated | Encrypted`, tag length {@link ENCRYPTED_TAG_BYTES}): the same
 *   first 16 bytes, then `40 salt (u64, random per sender instance)`, `48 GCM tag (16)`, and the
 *   body encrypted with AES-256-GCM under the IV salt || counter, with receiver || bytes 0..47
 *   as additional data.
 *
 * `receiver` is the 8-byte endpoint (node, incarnation) of the one endpoint a point-to-point
 * packet is for (flag `Addressed`), or 8 zero bytes for a cast or a packet to an address whose
 * endpoint the sender does not know (discovery, a client's first hello): an addressed packet
 * replayed to another endpoint fails to verify there. The time bounds how late any packet can be replayed ({@link FRESHNESS_MS}).
 * Documented in docs/protocol.md ("Authentication").
 */

export const AUTH_COUNTER_BYTES = 8;
export const AUTH_MAC_BYTES = 16;
/** Tag length of an authenticated packet: counter, time, key id, MAC. */
export const AUTH_TAG_BYTES = 32;
/** Tag length of an encrypted packet: counter, time, key id, salt, GCM tag. */
export const ENCRYPTED_TAG_BYTES = 40;
/** Shortest group key accepted, in bytes (UTF-8 for a string key). */
export const MIN_KEY_BYTES = 32;
/** Counters per sender the replay window covers below the highest one accepted. */
export const REPLAY_WINDOW = 1024;
/** Sender endpoints whose windows a receiver keeps; the least recently heard goes first. */
export const MAX_TRACKED_SENDERS = 4096;
/** Largest difference accepted between a packet's time and the receiver's clock (plus, with
 * the handshake, the sender's offset learnt from it). */
export const FRESHNESS_MS = 60_000;
/** How long a handshake challenge waits for its answer. */
export const CHALLENGE_TTL_MS = 5_000;
/** Least time between two challenges to one sender. */
export const CHALLENGE_RETRY_MS = 250;
/** Challenges outstanding at once; the oldest is dropped beyond. */
export const MAX_CHALLENGES = 256;
/** Challenges answered per second (token bucket, burst of as many). */
export const ANSWERS_PER_SEC = 200;

/** Key material: a string (its UTF-8 bytes) or bytes, at least {@link MIN_KEY_BYTES} long. */
export type KeyMaterial = string | Uint8Array;

/**
 * A group key: one key, or during a key roll the key to sign with (`current`) and one more that
 * is also accepted (`previous`), or a {@link KeyRing} shared by several endpoints so that one
 * `setKey` rolls them all.
 */
export type AuthKey = KeyMaterial | { current: KeyMaterial; previous?: KeyMaterial } | KeyRing;

const MAC_OFFSET = FIXED_HEADER_BYTES + 16;
const SALT_OFFSET = FIXED_HEADER_BYTES + 16;
const GCM_TAG_OFFSET = FIXED_HEADER_BYTES + 24;
const TWO_32 = 2 ** 32;
const ANYONE = new Uint8Array(8);
const ZERO_AUTH_TAG = new Uint8Array(AUTH_TAG_BYTES);
const ZERO_ENCRYPTED_TAG = new Uint8Array(ENCRYPTED_TAG_BYTES);

/** Whether `mac` equals the 16 bytes of `b` at `at`, in time independent of where they differ. */
function macEquals(mac: Uint8Array, b: Uint8Array, at: number): boolean {
  let diff = 0;
  for (let i = 0; i < AUTH_MAC_BYTES; i++) diff |= mac[i]! ^ b[at + i]!;
  return diff === 0;
}

function keyMaterialBytes(key: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key === 'string') bytes = new TextEncoder().encode(key);
  else if (key instanceof Uint8Array) bytes = Uint8Array.from(key);
  else throw new AuthConfigError('a group key must be a string or a Uint8Array');
  if (bytes.length < MIN_KEY_BYTES)
    throw new AuthConfigError(
      `the group key has ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are required (troupe keygen writes one)`,
    );
  return bytes;
}

const label = (key: Uint8Array, what: string) => createHmac('sha256', key).update(what).digest();

/** One key, derived once: its public id, the MAC key and the encryption key (separate keys). */
interface GroupKey {
  readonly idHex: string;
  readonly id: number;
  /** The MAC key as HMAC-SHA256's padded blocks (RFC 2104): key ⊕ ipad and key ⊕ opad. */
  readonly mac: HmacPads;
  readonly enc: KeyObject;
}

/** SHA-256's block size: HMAC pads its key to it. */
const SHA256_BLOCK = 64;
const SHA256_BYTES = 32;

interface HmacPads {
  readonly inner: Uint8Array;
  readonly outer: Uint8Array;
}

function hmacPads(key: Uint8Array): HmacPads {
  // The derived MAC key is 32 bytes, under the block size: zero-padded, never hashed first.
  if (key.length > SHA256_BLOCK) throw new AuthConfigError('MAC key longer than a SHA-256 block');
  const inner = new Uint8Array(SHA256_BLOCK).fill(0x36);
  const outer = new Uint8Array(SHA256_BLOCK).fill(0x5c);
  for (let i = 0; i < key.length; i++) {
    inner[i]! ^= key[i]!;
    outer[i]! ^= key[i]!;
  }
  return { inner, outer };
}

function deriveKey(material: KeyMaterial): GroupKey {
  const bytes = keyMaterialBytes(material);
  const idHex = label(bytes, 'troupe/key-id').toString('hex').slice(0, 16);
  return {
    idHex,
    id: Number.parseInt(idHex.slice(0, 8), 16),
    mac: hmacPads(label(bytes, 'troupe/mac')),
    enc: createSecretKey(label(bytes, 'troupe/aes-256-gcm')),
  };
}

/**
 * The keys one endpoint (or several: a member's stack and its replica) signs and verifies with.
 * {@link KeyRing.set} changes them in place, so a group rolls its key without restarting.
 */
export class KeyRing {
  private cur!: GroupKey;
  private prev: GroupKey | undefined;

  constructor(key: Exclude<AuthKey, KeyRing>) {
    this.set(key);
  }

  /** Replaces the keys: sign with `current` from now on, accept `current` and `previous`. */
  set(key: Exclude<AuthKey, KeyRing>): void {
    if (typeof key === 'string' || key instanceof Uint8Array) {
      this.cur = deriveKey(key);
      this.prev = undefined;
      return;
    }
    if (typeof key !== 'object' || key === null || !('current' in key))
      throw new AuthConfigError('a group key must be a string, a Uint8Array or { current, previous? }');
    const cur = deriveKey(key.current);
    const prev = key.previous === undefined ? undefined : deriveKey(key.previous);
    if (prev && prev.id === cur.id && prev.idHex !== cur.idHex)
      throw new AuthConfigError('the two keys share a key id prefix; generate another key');
    this.cur = cur;
    this.prev = prev;
  }

  /** {@link authKeyId} of the signing key. */
  get id(): string {
    return this.cur.idHex;
  }

  /** The key that signs. */
  get current(): GroupKey {
    return this.cur;
  }

  /** The key whose wire id is `id`, if this ring accepts it. */
  find(id: number): GroupKey | undefined {
    if (this.cur.id === id) return this.cur;
    if (this.prev?.id === id) return this.prev;
    return undefined;
  }
}

/** `key` as a ring: a given {@link KeyRing} is shared, anything else is validated and wrapped. */
export function keyRing(key: AuthKey): KeyRing {
  return key instanceof KeyRing ? key : new KeyRing(key);
}

/**
 * A short public name of a key (of the signing key of a pair or ring): 8 bytes of
 * HMAC-SHA256(key, "troupe/key-id"), in hex. Two configurations can be compared by it without
 * revealing or copying the key.
 */
export function authKeyId(key: AuthKey): string {
  return keyRing(key).id;
}

/** Validates `key`; throws {@link AuthConfigError} (`AUTH_BAD_KEY`) for anything unusable. */
export function checkKey(key: AuthKey): void {
  keyRing(key);
}

/** The security options every entry point (`joinGroup`, `joinReplica`, `connect`) takes. */
export interface SecurityOptions {
  /**
   * The group key: at least 32 bytes (`troupe keygen` writes one), or `{ current, previous }`
   * during a key roll. Every packet is then authenticated, bound to its receiver, timestamped
   * and checked for replays (docs/protocol.md, "Authentication").
   */
  key?: AuthKey;
  /** Run without a key, on purpose: anyone who can reach a port can then talk to the group. */
  insecure?: boolean;
  /** Encrypt every packet (AES-256-GCM) as well as authenticating it; needs `key`. */
  encrypt?: boolean;
}

/**
 * Secure by default: throws {@link AuthConfigError} `KEY_REQUIRED` unless `opts` has a key or
 * `insecure: true`, and `AUTH_BAD_KEY` for a bad key, both at once, or `encrypt` without a key.
 * `who` names the entry point in the message.
 */
export function checkSecurity(opts: SecurityOptions, who: string): void {
  if (opts.key === undefined) {
    if (opts.insecure !== true)
      throw new AuthConfigError(
        `${who} needs a group key (key: 32+ bytes, e.g. from 'troupe keygen') or, to run without one on purpose, insecure: true`,
        'KEY_REQUIRED',
      );
    if (opts.encrypt === true) throw new AuthConfigError(`${who}: encrypt needs a key`);
    return;
  }
  if (opts.insecure === true)
    throw new AuthConfigError(`${who}: give either key or insecure: true, not both`);
  checkKey(opts.key);
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

  /** Starts the window at `c`: `c` and every counter below it count as already accepted. */
  base(c: number): void {
    this.top = c;
    this.bits.fill(0xffffffff);
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
  /** Encrypt bodies (AES-256-GCM) instead of only authenticating them. Default false. */
  encrypt?: boolean;
  /** Largest |packet time − receiver clock| accepted, ms. Default {@link FRESHNESS_MS}. */
  freshnessMs?: number;
  /** Wall clock, ms since 1970. Default `Date.now`; the clocks of a group must agree within
   * `freshnessMs`. */
  clock?: () => number;
  /** This sender's 8-byte nonce salt (encryption). Default 8 random bytes from node:crypto. */
  salt?: Uint8Array;
  /**
   * Accept a sender's packets only after a handshake with it (docs/protocol.md, "Handshake"):
   * its first packets are refused (`DECODE_UNKNOWN_SENDER`) and answered with a challenge; its
   * signed answer sets its replay window's base and the offset of its clock from ours, so skewed
   * clocks are tolerated and nothing it sent before the answer is ever accepted. Default false
   * (the client path); `com` sets it for members.
   */
  handshake?: boolean;
  /** Random bytes for handshake nonces. Default node:crypto's `randomBytes`. */
  random?: (n: number) => Uint8Array;
}

/** What a sender's replay state holds. */
interface Peer {
  window: ReplayWindow;
  /** The sender's clock minus ours, in seconds, learnt from its handshake answer (else 0). */
  offsetSec: number;
}

/** The fields {@link PacketAuth.encode} takes: a packet without its tag. */
export type UnsignedPacket = Omit<Packet, 'tag'>;

/** What {@link PacketAuth.verify} found: `bytes` is the packet with a plaintext body. */
export interface Verified {
  /** The packet is its sender's newest yet: only such a packet may move the sender's address. */
  newest: boolean;
  /** The packet to decode: `bytes` itself, or a decrypted copy. */
  bytes: Uint8Array;
}

function endpointBytes(e: Endpoint | undefined): Uint8Array {
  if (e === undefined) return ANYONE;
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, e.node >>> 0);
  v.setUint32(4, e.inc >>> 0);
  return b;
}

/**
 * Signs (or encrypts) outgoing packets and verifies incoming ones with a {@link KeyRing}. Each
 * instance is one sending endpoint's counter (the stack's `com` of one incarnation, a client, a
 * replica) and one receiver's replay windows.
 *
 * The counter starts at 0. The replay state is keyed by sender endpoint (node, incarnation), and
 * an endpoint names exactly one incarnation: a `MemberCore` draws a random 32-bit node and
 * counts incarnations up from 1 at every restart, a client draws a random node. Encryption does
 * not rely on that: its nonce is a random 64-bit salt per instance and the counter, so two
 * instances that share an endpoint still never share a nonce.
 */
export class PacketAuth {
  private readonly ring: KeyRing;
  private readonly windowSize: number;
  private readonly maxSenders: number;
  private readonly encrypt: boolean;
  private readonly freshnessSec: number;
  private readonly clock: () => number;
  private readonly salt: Uint8Array;
  private counter = 0;
  /** Sender endpoint (`node.inc`) → replay state; Map order is recency, least recent first. */
  private readonly windows = new Map<string, Peer>();
  /** The sender of the last verified packet: already last in `windows` (recency order), so a
   * run of packets from one sender does not delete and re-insert it each time. */
  private lastHeard: string | undefined;
  private lastNode = -1;
  private lastInc = -1;
  private lastId = '';
  /** The receiver endpoint last encoded for {@link endpointBytes}, and its bytes. */
  private lastTo: Endpoint | undefined;
  private lastToBytes: Uint8Array = ANYONE;
  /** {@link mac}'s inner message, grown to the largest packet signed or checked here. */
  private macScratch: Buffer = Buffer.allocUnsafe(2048);
  /** {@link mac}'s outer message: key ⊕ opad and the inner hash. */
  private readonly macOuter: Buffer = Buffer.allocUnsafe(SHA256_BLOCK + SHA256_BYTES);
  private evicted = 0;
  private readonly handshakes: boolean;
  private readonly random: (n: number) => Uint8Array;
  /** Sender endpoint → the challenge sent to it and when (wall clock, ms). */
  private readonly challenges = new Map<string, { nonce: string; at: number }>();
  private answerTokens = ANSWERS_PER_SEC;
  private answerTokensAt: number | undefined;
  private readonly hs = { challenged: 0, answered: 0, learnt: 0, answersLimited: 0, badHandshake: 0 };

  constructor(key: AuthKey, opts: PacketAuthOptions = {}) {
    this.ring = keyRing(key);
    this.windowSize = opts.window ?? REPLAY_WINDOW;
    this.maxSenders = opts.maxSenders ?? MAX_TRACKED_SENDERS;
    this.encrypt = opts.encrypt ?? false;
    const freshnessMs = opts.freshnessMs ?? FRESHNESS_MS;
    if (!(freshnessMs >= 1000)) throw new AuthConfigError('freshnessMs must be at least 1000');
    this.freshnessSec = Math.ceil(freshnessMs / 1000);
    this.clock = opts.clock ?? Date.now;
    this.salt = opts.salt ?? randomBytes(8);
    this.handshakes = opts.handshake ?? false;
    this.random = opts.random ?? randomBytes;
    if (this.salt.length !== 8) throw new AuthConfigError('salt must be 8 bytes');
    if (!Number.isInteger(this.maxSenders) || this.maxSenders < 1)
      throw new AuthConfigError('maxSenders must be a positive integer');
    new ReplayWindow(this.windowSize); // validates the size
  }

  /** {@link authKeyId} of the signing key. */
  get keyId(): string {
    return this.ring.id;
  }

  /** Rolls the keys of this instance's ring (shared with whoever shares the ring). */
  setKey(key: Exclude<AuthKey, KeyRing>): void {
    this.ring.set(key);
  }

  /** The counter the next packet will carry. */
  get nextCounter(): number {
    return this.counter;
  }

  /**
   * Encodes `p` with a tag (and, when encrypting, an encrypted body). `receiver` is the endpoint
   * a point-to-point packet is for (sets `Addressed`); leave it out for casts and packets to a
   * bare address.
   */
  encode(p: UnsignedPacket, receiver?: Endpoint): Uint8Array {
    const c = this.counter;
    if (c >= Number.MAX_SAFE_INTEGER) throw new RangeError('packet counter exhausted');
    this.counter = c + 1;
    const key = this.ring.current;
    const flags =
      p.flags |
      Flags.Authenticated |
      (this.encrypt ? Flags.Encrypted : 0) |
      (receiver !== undefined ? Flags.Addressed : 0);
    // The tag's fields are written into the packet in place: a zero tag of the right length is
    // encoded, then filled (a tag array and its DataView per packet were a third of signing).
    const out = encodePacket({
      type: p.type,
      flags,
      groupId: p.groupId,
      sender: p.sender,
      headers: p.headers,
      payload: p.payload,
      tag: this.encrypt ? ZERO_ENCRYPTED_TAG : ZERO_AUTH_TAG,
    });
    const t = FIXED_HEADER_BYTES;
    writeU32(out, t, Math.floor(c / TWO_32));
    writeU32(out, t + 4, c >>> 0);
    writeU32(out, t + 8, Math.floor(this.clock() / 1000) >>> 0);
    writeU32(out, t + 12, key.id);
    if (this.encrypt) out.set(this.salt, t + 16);
    const to = this.endpointBytes(receiver);
    if (!this.encrypt) {
      out.set(this.mac(key, to, out), MAC_OFFSET);
      return out;
    }
    const body = FIXED_HEADER_BYTES + ENCRYPTED_TAG_BYTES;
    const cipher = createCipheriv('aes-256-gcm', key.enc, iv(out), { authTagLength: 16 });
    cipher.setAAD(Buffer.concat([to, out.subarray(0, GCM_TAG_OFFSET)]));
    const ct = cipher.update(out.subarray(body));
    cipher.final();
    out.set(ct, body);
    out.set(cipher.getAuthTag(), GCM_TAG_OFFSET);
    return out;
  }

  /**
   * Verifies `bytes` (whose fixed header `h` the caller parsed with `decodeFixedHeader`) at
   * `receiver` (this endpoint, against which an `Addressed` packet is checked), decrypts it when
   * encrypted, and records its counter. Throws
   * {@link DecodeError} `DECODE_UNAUTHENTICATED`, `DECODE_STALE` or `DECODE_REPLAYED`, and
   * nothing else; replay state changes only for a packet that verifies and is fresh.
   */
  verify(bytes: Uint8Array, h: FixedHeader, receiver?: Endpoint): Verified {
    const { plain, counter: c, timeSec } = this.open(bytes, h, receiver);
    const id = this.senderId(h.sender);
    let peer = this.windows.get(id);
    if (!peer && this.handshakes)
      throw new DecodeError('DECODE_UNKNOWN_SENDER', `no handshake with ${id} yet`);
    const skew = timeSec - Math.floor(this.clock() / 1000) - (peer?.offsetSec ?? 0);
    if (Math.abs(skew) > this.freshnessSec)
      throw new DecodeError(
        'DECODE_STALE',
        `packet time is ${skew} s from this clock${peer?.offsetSec ? " and the sender's offset" : ''} (more than ${this.freshnessSec} s)`,
      );
    if (!peer) {
      peer = { window: new ReplayWindow(this.windowSize), offsetSec: 0 };
      this.track(id, peer);
    } else if (id !== this.lastHeard) {
      this.windows.delete(id); // re-inserted last: most recently heard
      this.track(id, peer);
    }
    this.lastHeard = id;
    const w = peer.window;
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
    return { newest, bytes: plain };
  }

  /**
   * The challenge to send `sender` after its packet was refused `DECODE_UNKNOWN_SENDER` (or
   * `DECODE_STALE`: its clock may have jumped), from `self` in group `groupId`; `undefined` when
   * one went to it less than {@link CHALLENGE_RETRY_MS} ago. At most {@link MAX_CHALLENGES} wait
   * at once, so a flood of authentic recordings from many senders holds bounded state. `now`
   * (ms) times the retry and the answer's deadline: the caller's clock (com passes its
   * context's, so the simulator's virtual time drives it), by default the wall clock.
   */
  challenge(sender: Endpoint, self: Endpoint, groupId: number, now = this.clock()): Uint8Array | undefined {
    if (!this.handshakes) return undefined;
    const id = `${sender.node >>> 0}.${sender.inc >>> 0}`;
    const open = this.challenges.get(id);
    if (open && now - open.at >= 0 && now - open.at < CHALLENGE_RETRY_MS) return undefined;
    this.challenges.delete(id);
    const nonce = Buffer.from(this.random(8)).toString('hex');
    this.challenges.set(id, { nonce, at: now });
    while (this.challenges.size > MAX_CHALLENGES)
      this.challenges.delete(this.challenges.keys().next().value as string);
    this.hs.challenged++;
    return this.handshakePacket(0, nonce, self, sender, groupId);
  }

  /**
   * A `Handshake` packet for `self`: a challenge gets the answer to send back (or `undefined`
   * beyond {@link ANSWERS_PER_SEC}); an answer to our outstanding challenge sets its sender's
   * window base (its counter: nothing it sent before is accepted) and clock offset, and returns
   * `undefined`. Throws {@link DecodeError} for anything else: not addressed to `self`, not
   * verifying, malformed, or an answer to no challenge of ours (a replay). `now` as for
   * {@link challenge}.
   */
  handshake(
    bytes: Uint8Array,
    h: FixedHeader,
    self: Endpoint,
    groupId: number,
    now = this.clock(),
  ): Uint8Array | undefined {
    try {
      if ((h.flags & Flags.Addressed) === 0)
        throw new DecodeError('DECODE_UNAUTHENTICATED', 'handshake packet is not addressed');
      const { plain, counter, timeSec } = this.open(bytes, h, self);
      const p = decodePacket(plain);
      const hd = p.headers[0];
      if (
        p.headers.length !== 1 ||
        !Array.isArray(hd) ||
        hd.length !== 2 ||
        (hd[0] !== 0 && hd[0] !== 1) ||
        typeof hd[1] !== 'string' ||
        !/^[0-9a-f]{16}$/.test(hd[1])
      )
        throw new DecodeError('DECODE_BAD_SHAPE', 'handshake header must be [0|1, 16 hex digits]');
      const nonce = hd[1];
      const id = `${h.sender.node >>> 0}.${h.sender.inc >>> 0}`;
      if (hd[0] === 0) {
        // Answering a replayed challenge only tells its sender what it may learn anyway: our
        // counter and clock now. The bucket bounds what a replayer can make us send.
        if (this.answerTokensAt !== undefined)
          this.answerTokens = Math.min(
            ANSWERS_PER_SEC,
            this.answerTokens + (Math.max(0, now - this.answerTokensAt) * ANSWERS_PER_SEC) / 1000,
          );
        this.answerTokensAt = now;
        if (this.answerTokens < 1) {
          this.hs.answersLimited++;
          return undefined;
        }
        this.answerTokens--;
        this.hs.answered++;
        return this.handshakePacket(1, nonce, self, h.sender, groupId);
      }
      const open = this.challenges.get(id);
      if (!open || open.nonce !== nonce || now - open.at > CHALLENGE_TTL_MS)
        throw new DecodeError('DECODE_REPLAYED', `handshake answer of ${id} to no open challenge`);
      this.challenges.delete(id);
      const window = new ReplayWindow(this.windowSize);
      window.base(counter); // nothing the sender signed before its answer is ever accepted
      this.windows.delete(id);
      this.track(id, { window, offsetSec: timeSec - Math.floor(this.clock() / 1000) });
      this.hs.learnt++;
      return undefined;
    } catch (e) {
      if (e instanceof DecodeError) this.hs.badHandshake++;
      throw e;
    }
  }

  /** The clock offset (seconds) learnt for `sender`, if it has replay state here. */
  offsetOf(sender: Endpoint): number | undefined {
    return this.windows.get(`${sender.node >>> 0}.${sender.inc >>> 0}`)?.offsetSec;
  }

  private handshakePacket(
    kind: 0 | 1,
    nonce: string,
    self: Endpoint,
    to: Endpoint,
    groupId: number,
  ): Uint8Array {
    return this.encode(
      {
        type: PacketType.Handshake,
        flags: Flags.Unicast,
        groupId,
        sender: self,
        headers: [[kind, nonce]],
        payload: new Uint8Array(0),
      },
      to,
    );
  }

  private track(id: string, peer: Peer): void {
    this.windows.set(id, peer);
    while (this.windows.size > this.maxSenders) {
      this.windows.delete(this.windows.keys().next().value as string);
      this.evicted++;
    }
  }

  /**
   * Checks `bytes`' tag (or decrypts it) for `receiver`; returns the plaintext packet, its
   * counter and its time (seconds). Changes nothing.
   */
  private open(
    bytes: Uint8Array,
    h: FixedHeader,
    receiver: Endpoint | undefined,
  ): { plain: Uint8Array; counter: number; timeSec: number } {
    if ((h.flags & Flags.Authenticated) === 0)
      throw new DecodeError('DECODE_UNAUTHENTICATED', 'packet carries no authentication tag');
    const encrypted = (h.flags & Flags.Encrypted) !== 0;
    if (encrypted !== this.encrypt)
      throw new DecodeError(
        'DECODE_UNAUTHENTICATED',
        encrypted ? 'packet is encrypted but this endpoint does not encrypt' : 'packet is not encrypted',
      );
    const tagBytes = encrypted ? ENCRYPTED_TAG_BYTES : AUTH_TAG_BYTES;
    if (h.tagLength !== tagBytes)
      throw new DecodeError(
        'DECODE_UNAUTHENTICATED',
        `authentication tag of ${h.tagLength} bytes, expected ${tagBytes}`,
      );
    const t = FIXED_HEADER_BYTES;
    const key = this.ring.find(readU32(bytes, t + 12));
    if (!key)
      throw new DecodeError('DECODE_UNAUTHENTICATED', 'packet signed with a key this endpoint does not hold');
    // The flag says whether the sender named a receiver; it is under the tag, so a replayer
    // cannot clear it to make a packet for one member acceptable at another.
    let to: Uint8Array = ANYONE;
    if ((h.flags & Flags.Addressed) !== 0) {
      if (receiver === undefined)
        throw new DecodeError(
          'DECODE_UNAUTHENTICATED',
          'addressed packet on a path with no endpoint of its own',
        );
      to = this.endpointBytes(receiver);
    }
    let plain = bytes;
    if (!encrypted) {
      if (!macEquals(this.mac(key, to, bytes), bytes, MAC_OFFSET))
        throw new DecodeError('DECODE_UNAUTHENTICATED', 'authentication tag does not verify');
    } else {
      const body = FIXED_HEADER_BYTES + ENCRYPTED_TAG_BYTES;
      try {
        const d = createDecipheriv('aes-256-gcm', key.enc, iv(bytes), { authTagLength: 16 });
        d.setAAD(Buffer.concat([to, bytes.subarray(0, GCM_TAG_OFFSET)]));
        d.setAuthTag(bytes.subarray(GCM_TAG_OFFSET, body));
        const pt = d.update(bytes.subarray(body));
        d.final();
        plain = new Uint8Array(bytes.length);
        plain.set(bytes.subarray(0, body));
        plain.set(pt, body);
      } catch {
        throw new DecodeError('DECODE_UNAUTHENTICATED', 'encrypted packet does not verify');
      }
    }
    const hi = readU32(bytes, t);
    if (hi >= 2 ** 21) throw new DecodeError('DECODE_UNAUTHENTICATED', 'packet counter out of range');
    const c = hi * TWO_32 + readU32(bytes, t + 4);
    return { plain, counter: c, timeSec: readU32(bytes, t + 8) };
  }

  /**
   * `authSenders`: endpoints tracked now; `authEvicted`: windows dropped to stay within the cap;
   * with the handshake, `hsChallenged`, `hsAnswered`, `hsLearnt` (answers that set a window),
   * `hsAnswersLimited` (challenges left unanswered by the rate), `hsRefused` (bad handshakes).
   */
  stats(): Record<string, number> {
    const out: Record<string, number> = { authSenders: this.windows.size, authEvicted: this.evicted };
    if (this.handshakes)
      Object.assign(out, {
        hsChallenged: this.hs.challenged,
        hsAnswered: this.hs.answered,
        hsLearnt: this.hs.learnt,
        hsAnswersLimited: this.hs.answersLimited,
        hsRefused: this.hs.badHandshake,
      });
    return out;
  }

  /** `node.inc` of a sender, remembering the last one (a string per packet otherwise). */
  private senderId(e: Endpoint): string {
    if (e.node === this.lastNode && e.inc === this.lastInc) return this.lastId;
    this.lastNode = e.node;
    this.lastInc = e.inc;
    this.lastId = `${e.node >>> 0}.${e.inc >>> 0}`;
    return this.lastId;
  }

  /** {@link endpointBytes}, remembering the last receiver (one per peer stream, or ourselves). */
  private endpointBytes(e: Endpoint | undefined): Uint8Array {
    if (e === undefined) return ANYONE;
    const last = this.lastTo;
    if (last !== undefined && last.node === e.node && last.inc === e.inc) return this.lastToBytes;
    this.lastTo = { node: e.node, inc: e.inc };
    this.lastToBytes = endpointBytes(e);
    return this.lastToBytes;
  }

  /**
   * HMAC-SHA256 over receiver and packet, the MAC field left out, truncated. Computed as RFC 2104
   * spells it, H(K⊕opad ‖ H(K⊕ipad ‖ m)), with two one-shot hashes over a reused buffer: the
   * same bytes as `createHmac`, without a native Hmac object per packet (constructing and
   * collecting those was about a third of what a key added to a lone call's CPU).
   */
  private mac(key: GroupKey, to: Uint8Array, bytes: Uint8Array): Uint8Array {
    const head = SHA256_BLOCK + to.length;
    const need = head + bytes.length - AUTH_MAC_BYTES;
    let buf = this.macScratch;
    if (buf.length < need) {
      buf = Buffer.allocUnsafe(Math.max(need, 2 * buf.length));
      this.macScratch = buf;
    }
    buf.set(key.mac.inner, 0);
    buf.set(to, SHA256_BLOCK);
    buf.set(bytes.subarray(0, MAC_OFFSET), head);
    buf.set(bytes.subarray(MAC_OFFSET + AUTH_MAC_BYTES), head + MAC_OFFSET);
    const inner = hash('sha256', buf.subarray(0, need), 'buffer');
    const outer = this.macOuter;
    outer.set(key.mac.outer, 0);
    outer.set(inner, SHA256_BLOCK);
    return hash('sha256', outer, 'buffer').subarray(0, AUTH_MAC_BYTES);
  }
}

/** The GCM IV of an encrypted packet: its salt and counter (16 bytes). */
function iv(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(bytes.subarray(SALT_OFFSET, SALT_OFFSET + 8), 0);
  out.set(bytes.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + 8), 8);
  return out;
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
 * {@link refuseAuthenticated} (then the packet may always move its sender's address: nothing is
 * authenticated).
 */
export function checkAuth(
  auth: PacketAuth | undefined,
  bytes: Uint8Array,
  h: FixedHeader,
  receiver?: Endpoint,
): Verified {
  if (auth) return auth.verify(bytes, h, receiver);
  refuseAuthenticated(h);
  return { newest: true, bytes };
}
