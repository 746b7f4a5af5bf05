import { Packr } from 'msgpackr';
import { DecodeError } from './errors.js';
import { decodeGuarded, PACKET_LIMITS } from './msgpack-guard.js';

/**
 * Wire format of every troupe datagram / frame (all integers big-endian):
 *
 * ```
 *  0  magic 0x54 ('T')      1  version (1)        2  packet type         3  flags
 *  4  tag length (bytes)    5..7 reserved (0)
 *  8  group id (u32, FNV-1a of the group name)
 * 12  sender node (u32)    16  sender incarnation (u32)
 * 20  body length (u32)
 * 24  authentication tag (tag length bytes; filled by the crypt layer, else empty)
 * 24+tag  body: msgpack [headers: array, payload: bin]
 * ```
 * Documented field by field in docs/protocol.md.
 */
export const MAGIC = 0x54;
export const VERSION = 1;
export const FIXED_HEADER_BYTES = 24;
/** Largest packet decodePacket accepts by default: a 64 MiB message plus headroom (TCP frames). */
export const MAX_PACKET_BYTES = 64 * 1024 * 1024 + 64 * 1024;

/** Top-level demultiplexing: which part of a node a packet is for. */
export enum PacketType {
  /** Group protocol traffic between members; the body is a layer-header stack. */
  Stack = 1,
  /** Non-member client traffic (requests, replies, membership hints). */
  Client = 2,
  /** Discovery: join requests and beacons from endpoints not yet in the view. */
  Discovery = 3,
  /** A member's clock handshake, inside `com` only (docs/protocol.md, "Handshake"). */
  Handshake = 4,
}

export const Flags = {
  /** The tag field holds an authentication tag over the rest of the packet. */
  Authenticated: 0x01,
  /** Sent point to point, not cast to the group. */
  Unicast: 0x02,
  /** With `Authenticated`: the body is encrypted (AES-256-GCM) and the tag holds its nonce salt
   * and GCM tag instead of an HMAC. */
  Encrypted: 0x04,
  /** With `Authenticated`: the tag covers the receiver's endpoint; only that endpoint accepts it. */
  Addressed: 0x08,
} as const;

/** A member endpoint: a node id and the incarnation of that node (a restart is a new incarnation). */
export interface Endpoint {
  node: number;
  inc: number;
}

/** A decoded packet. `headers` are the layer headers, bottom-most last; `payload` is never copied. */
export interface Packet {
  type: PacketType;
  flags: number;
  groupId: number;
  sender: Endpoint;
  tag: Uint8Array;
  headers: unknown[];
  payload: Uint8Array;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });

const EMPTY = new Uint8Array(0);

/**
 * Encode a packet. The payload is copied once, into the outgoing buffer: the body is msgpack
 * `[headers, payload]`, written here as the array marker, the headers packed by msgpackr, and
 * the payload's `bin` header and bytes, which is byte for byte what msgpackr makes of the pair
 * (`test/wire/encode-once.test.ts`), without msgpackr copying the payload into its own buffer
 * first (two copies of every byte of a large message or state chunk).
 */
export function encodePacket(p: Omit<Packet, 'tag'> & { tag?: Uint8Array }): Uint8Array {
  const tag = p.tag ?? EMPTY;
  if (tag.length > 255) throw new RangeError('authentication tag longer than 255 bytes');
  const head = packr.pack(p.headers);
  const n = p.payload.length;
  const bin = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const bodyLength = 1 + head.length + bin + n;
  // Not zero-filled, and below 4 KB a slice of Node's shared pool, not an ArrayBuffer of its own
  // (an allocation cost a packet of a few hundred bytes more than the rest of its encoding):
  // every byte below is written.
  const n0 = FIXED_HEADER_BYTES + tag.length + bodyLength;
  const pooled = Buffer.allocUnsafe(n0);
  // A plain Uint8Array over it (Buffer's own `slice` would not copy where a caller expects it).
  const out = new Uint8Array(pooled.buffer, pooled.byteOffset, n0);
  out[0] = MAGIC;
  out[1] = VERSION;
  out[2] = p.type;
  out[3] = p.flags;
  out[4] = tag.length;
  out[5] = 0;
  out[6] = 0;
  out[7] = 0;
  writeU32(out, 8, p.groupId >>> 0);
  writeU32(out, 12, p.sender.node >>> 0);
  writeU32(out, 16, p.sender.inc >>> 0);
  writeU32(out, 20, bodyLength);
  out.set(tag, FIXED_HEADER_BYTES);
  let at = FIXED_HEADER_BYTES + tag.length;
  out[at++] = 0x92; // fixarray of 2
  out.set(head, at);
  at += head.length;
  if (bin === 2) {
    out[at++] = 0xc4; // bin 8
    out[at++] = n;
  } else if (bin === 3) {
    out[at++] = 0xc5; // bin 16
    out[at++] = n >>> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = 0xc6; // bin 32
    writeU32(out, at, n);
    at += 4;
  }
  out.set(p.payload, at);
  return out;
}

/** Writes `v` big-endian at `at` (the wire's integers; no DataView per packet). */
export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** Reads a big-endian u32 at `at`. */
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Fields of the fixed header, readable without decoding the body (for fast rejection and auth). */
export interface FixedHeader {
  type: PacketType;
  flags: number;
  groupId: number;
  sender: Endpoint;
  tagLength: number;
  bodyLength: number;
}

/** Parse and check the fixed header only. Throws {@link DecodeError}. */
export function decodeFixedHeader(bytes: Uint8Array, maxBytes = MAX_PACKET_BYTES): FixedHeader {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('DECODE_BAD_SHAPE', 'packet is not a byte array');
  if (bytes.length > maxBytes)
    throw new DecodeError(
      'DECODE_OVERSIZED',
      `packet of ${bytes.length} bytes exceeds the ${maxBytes}-byte limit`,
    );
  if (bytes.length < FIXED_HEADER_BYTES)
    throw new DecodeError(
      'DECODE_TRUNCATED',
      `packet of ${bytes.length} bytes is shorter than its fixed header`,
    );
  if (bytes[0] !== MAGIC)
    throw new DecodeError('DECODE_BAD_MAGIC', `bad magic byte 0x${bytes[0]!.toString(16)}`);
  if (bytes[1] !== VERSION)
    throw new DecodeError(
      'DECODE_BAD_VERSION',
      `wire version ${bytes[1]} is not supported (this is ${VERSION})`,
    );
  const type = bytes[2]!;
  if (
    type !== PacketType.Stack &&
    type !== PacketType.Client &&
    type !== PacketType.Discovery &&
    type !== PacketType.Handshake
  )
    throw new DecodeError('DECODE_BAD_TYPE', `unknown packet type ${type}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0)
    throw new DecodeError('DECODE_BAD_SHAPE', 'reserved header bytes are not zero');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tagLength = bytes[4]!;
  const bodyLength = v.getUint32(20);
  const expected = FIXED_HEADER_BYTES + tagLength + bodyLength;
  if (expected > bytes.length)
    throw new DecodeError('DECODE_TRUNCATED', `packet claims ${expected} bytes, has ${bytes.length}`);
  if (expected < bytes.length)
    throw new DecodeError('DECODE_BAD_LENGTH', `packet has ${bytes.length - expected} bytes past its body`);
  return {
    type,
    flags: bytes[3]!,
    groupId: v.getUint32(8),
    sender: { node: v.getUint32(12), inc: v.getUint32(16) },
    tagLength,
    bodyLength,
  };
}

/**
 * The single decoding entry point. Accepts any input; throws nothing but {@link DecodeError}.
 */
export function decodePacket(bytes: Uint8Array, maxBytes = MAX_PACKET_BYTES): Packet {
  return decodePacketBody(bytes, decodeFixedHeader(bytes, maxBytes));
}

/**
 * {@link decodePacket} for bytes whose fixed header `h` the caller already checked with
 * {@link decodeFixedHeader} (com does, before authenticating), so it is not parsed twice. The
 * body is validated and decoded in one pass ({@link decodeGuarded}). Throws only
 * {@link DecodeError}.
 */
export function decodePacketBody(bytes: Uint8Array, h: FixedHeader): Packet {
  const bodyStart = FIXED_HEADER_BYTES + h.tagLength;
  const body = decodeGuarded(bytes, bodyStart, bytes.length, PACKET_LIMITS);
  if (!Array.isArray(body) || body.length !== 2)
    throw new DecodeError('DECODE_BAD_SHAPE', 'body must be [headers, payload]');
  const [headers, payload] = body as [unknown, unknown];
  if (!Array.isArray(headers)) throw new DecodeError('DECODE_BAD_SHAPE', 'headers must be an array');
  if (!(payload instanceof Uint8Array)) throw new DecodeError('DECODE_BAD_SHAPE', 'payload must be bytes');
  return {
    type: h.type,
    flags: h.flags,
    groupId: h.groupId,
    sender: h.sender,
    tag: bytes.subarray(FIXED_HEADER_BYTES, bodyStart),
    headers,
    payload,
  };
}

/** FNV-1a 32-bit hash of a group name: the group id carried in every packet. */
export function groupIdOf(name: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
