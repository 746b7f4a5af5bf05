import { DecodeError } from './errors.js';

/**
 * What a msgpack document may contain. Checked by walking the raw bytes *before* msgpackr
 * sees them: msgpackr registers extensions globally (RegExp, Error, Set, structured-clone
 * references that build cycles, records), so the only safe way to refuse them is never to
 * hand such bytes to the decoder.
 */
export interface GuardLimits {
  /** Deepest nesting of arrays/maps. */
  maxDepth: number;
  /** Total number of values (every scalar and container counts one). */
  maxValues: number;
  /** Whether maps are allowed at all (packet bodies use arrays only). */
  allowMaps: boolean;
  /** Extension type codes allowed (as signed bytes, e.g. -1 for timestamp). */
  allowedExtensions: ReadonlySet<number>;
}

export const PACKET_LIMITS: GuardLimits = {
  maxDepth: 16,
  maxValues: 1 << 16,
  allowMaps: false,
  allowedExtensions: new Set(),
};

const fail = (msg: string): never => {
  throw new DecodeError('DECODE_BAD_BODY', msg);
};

/**
 * Validate that `bytes[start..end)` holds exactly one well-formed msgpack value within
 * `limits`. Throws {@link DecodeError} otherwise. Linear in the input; allocates nothing (it
 * runs on every application value a replica decodes: a DataView, a stack and four closures
 * per call were the largest allocation site, 15 % of the bytes, of a loaded in-process group).
 */
export function guardMsgpack(bytes: Uint8Array, start: number, end: number, limits: GuardLimits): void {
  let pos = start;
  let values = 0;
  // Iterative walk: `pending[0..depth)` counts values still owed by each open container.
  // Limits are the code's own constants (16 to 64); a wild one is a programming error, refused
  // before it asks for a stack of gigabytes.
  const maxDepth = limits.maxDepth;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_GUARD_DEPTH)
    throw new RangeError(`guardMsgpack: maxDepth must be an integer from 0 to ${MAX_GUARD_DEPTH}`);
  if (pending.length < maxDepth + 2) pending = new Int32Array(maxDepth + 2);
  const stack = pending;
  let depth = 1;
  stack[0] = 1;
  while (depth > 0) {
    const top = depth - 1;
    if (stack[top] === 0) {
      depth--;
      continue;
    }
    stack[top]! -= 1;
    if (++values > limits.maxValues) fail(`msgpack holds more than ${limits.maxValues} values`);
    if (pos + 1 > end) truncated(pos, start);
    const b = bytes[pos++]!;
    if (b <= 0x7f || b >= 0xe0) continue; // fixint
    // What follows the type byte: `skip` bytes of payload, or a container of `count` values,
    // or an extension (`ext`: its length; its type byte comes first).
    let skip = 0;
    let count = -1;
    let ext = -1;
    if (b >= 0xa0 && b <= 0xbf) skip = b & 0x1f;
    else if (b >= 0x90 && b <= 0x9f) count = b & 0x0f;
    else if (b >= 0x80 && b <= 0x8f) {
      if (!limits.allowMaps) fail('msgpack map not allowed here');
      count = (b & 0x0f) * 2;
    } else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc4:
        case 0xd9:
          if (pos + 1 > end) truncated(pos, start);
          skip = 1 + bytes[pos]!;
          break;
        case 0xc5:
        case 0xda:
          if (pos + 2 > end) truncated(pos, start);
          skip = 2 + be16(bytes, pos);
          break;
        case 0xc6:
        case 0xdb:
          if (pos + 4 > end) truncated(pos, start);
          skip = 4 + be32(bytes, pos);
          break;
        case 0xc7:
          if (pos + 1 > end) truncated(pos, start);
          ext = bytes[pos]!;
          pos += 1;
          break;
        case 0xc8:
          if (pos + 2 > end) truncated(pos, start);
          ext = be16(bytes, pos);
          pos += 2;
          break;
        case 0xc9:
          if (pos + 4 > end) truncated(pos, start);
          ext = be32(bytes, pos);
          pos += 4;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
          ext = 1;
          break;
        case 0xd5:
          ext = 2;
          break;
        case 0xd6:
          ext = 4;
          break;
        case 0xd7:
          ext = 8;
          break;
        case 0xd8:
          ext = 16;
          break;
        case 0xdc:
          if (pos + 2 > end) truncated(pos, start);
          count = be16(bytes, pos);
          pos += 2;
          break;
        case 0xdd:
          if (pos + 4 > end) truncated(pos, start);
          count = be32(bytes, pos);
          pos += 4;
          break;
        case 0xde:
        case 0xdf: {
          if (!limits.allowMaps) fail('msgpack map not allowed here');
          const wide = b === 0xdf;
          if (pos + (wide ? 4 : 2) > end) truncated(pos, start);
          const n = wide ? be32(bytes, pos) : be16(bytes, pos);
          pos += wide ? 4 : 2;
          count = n * 2;
          break;
        }
        default:
          fail(`msgpack byte 0x${b.toString(16)} is not a valid type`); // 0xc1 (never used)
      }
    }
    if (ext >= 0) {
      if (pos + 1 > end) truncated(pos, start);
      const type = (bytes[pos]! << 24) >> 24;
      if (!limits.allowedExtensions.has(type)) fail(`msgpack extension type ${type} not allowed`);
      skip = 1 + ext;
    }
    if (count > 0) {
      if (depth > limits.maxDepth) fail(`msgpack nested deeper than ${limits.maxDepth}`);
      // A container cannot hold more values than the bytes left can encode (1 byte each).
      if (count > end - pos) fail(`msgpack container claims ${count} values, only ${end - pos} bytes remain`);
      stack[depth++] = count;
    } else if (skip > 0) {
      if (pos + skip > end) truncated(pos, start);
      pos += skip;
    }
  }
  if (pos !== end) fail(`msgpack has ${end - pos} trailing bytes`);
}

/** The deepest nesting a {@link GuardLimits} may allow. */
export const MAX_GUARD_DEPTH = 4096;

/** {@link guardMsgpack}'s stack of open containers, reused (the walk is synchronous). */
let pending = new Int32Array(18);

const truncated = (pos: number, start: number): never => fail(`msgpack truncated at byte ${pos - start}`);

const be16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

const be32 = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

const utf8 = new TextDecoder();

// decodeGuarded's cursor. Module state rather than closures: a closure per helper per call cost
// more than the walk itself on small packets. Safe because decoding is synchronous and calls
// nothing outside this module.
let src: Uint8Array = new Uint8Array(0);
let dv: DataView = new DataView(src.buffer);
let pos = 0;
let start0 = 0;
let end0 = 0;
let values = 0;
let maxValues = 0;
let maxDepth = 0;

function need(n: number): void {
  if (pos + n > end0) fail(`msgpack truncated at byte ${pos - start0}`);
}

function take(n: number): number {
  need(n);
  const at = pos;
  pos += n;
  return at;
}

function str(n: number): string {
  const at = take(n);
  return utf8.decode(src.subarray(at, at + n));
}

function bin(n: number): Uint8Array {
  const at = take(n);
  return src.subarray(at, at + n);
}

/** `depth` open containers enclose the value read next (the guard's pending stack, less the root). */
function value(depth: number): unknown {
  if (++values > maxValues) fail(`msgpack holds more than ${maxValues} values`);
  need(1);
  const b = src[pos++]!;
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
  if (b >= 0x90 && b <= 0x9f) return array(b & 0x0f, depth);
  if (b >= 0x80 && b <= 0x8f) return fail('msgpack map not allowed here');
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bin(src[take(1)]!);
    case 0xc5:
      return bin(dv.getUint16(take(2)));
    case 0xc6:
      return bin(dv.getUint32(take(4)));
    case 0xd9:
      return str(src[take(1)]!);
    case 0xda:
      return str(dv.getUint16(take(2)));
    case 0xdb:
      return str(dv.getUint32(take(4)));
    case 0xca:
      return dv.getFloat32(take(4));
    case 0xcb:
      return dv.getFloat64(take(8));
    case 0xcc:
      return src[take(1)]!;
    case 0xcd:
      return dv.getUint16(take(2));
    case 0xce:
      return dv.getUint32(take(4));
    case 0xcf:
      return Number(dv.getBigUint64(take(8)));
    case 0xd0:
      return dv.getInt8(take(1));
    case 0xd1:
      return dv.getInt16(take(2));
    case 0xd2:
      return dv.getInt32(take(4));
    case 0xd3:
      return Number(dv.getBigInt64(take(8)));
    case 0xdc:
      return array(dv.getUint16(take(2)), depth);
    case 0xdd:
      return array(dv.getUint32(take(4)), depth);
    case 0xde:
    case 0xdf:
      return fail('msgpack map not allowed here');
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {
      // The guard reads an extension's type byte before refusing it: the same error here.
      const len = b === 0xc7 ? 1 : b === 0xc8 ? 2 : b === 0xc9 ? 4 : 0;
      if (len > 0) take(len);
      need(1);
      return fail(`msgpack extension type ${dv.getInt8(pos)} not allowed`);
    }
    default:
      return fail(`msgpack byte 0x${b.toString(16)} is not a valid type`); // 0xc1 (never used)
  }
}

function array(count: number, depth: number): unknown[] {
  if (count === 0) return [];
  if (depth + 1 > maxDepth) fail(`msgpack nested deeper than ${maxDepth}`);
  if (count > end0 - pos) fail(`msgpack container claims ${count} values, only ${end0 - pos} bytes remain`);
  const out = new Array<unknown>(count);
  for (let i = 0; i < count; i++) out[i] = value(depth + 1);
  return out;
}

/**
 * Validates and decodes `bytes[start..end)` in one pass: the value {@link guardMsgpack} followed
 * by msgpackr would return (ints beyond 2^53 as rounded numbers, `bin` as a view into `bytes`,
 * not a copy), for documents without maps or extensions (`limits.allowMaps` false and no
 * `allowedExtensions`, as packet bodies are). Every received packet used to be walked twice,
 * once by the guard and once by msgpackr; this is the one walk. Throws {@link DecodeError}
 * where the guard would.
 */
export function decodeGuarded(bytes: Uint8Array, start: number, end: number, limits: GuardLimits): unknown {
  if (limits.allowMaps || limits.allowedExtensions.size > 0)
    throw new RangeError('decodeGuarded: documents with maps or extensions need guardMsgpack + msgpackr');
  src = bytes;
  dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = start;
  start0 = start;
  end0 = end;
  values = 0;
  maxValues = limits.maxValues;
  maxDepth = limits.maxDepth;
  try {
    const root = value(0);
    if (pos !== end) fail(`msgpack has ${end - pos} trailing bytes`);
    return root;
  } finally {
    // Do not keep the last packet alive through the module's cursor.
    src = EMPTY;
    dv = EMPTY_VIEW;
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);
