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
 * `limits`. Throws {@link DecodeError} otherwise. Linear in the input; no allocation.
 */
export function guardMsgpack(bytes: Uint8Array, start: number, end: number, limits: GuardLimits): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let values = 0;
  // Iterative walk: `pending` counts values still owed by each open container.
  const pending: number[] = [1];

  const need = (n: number): void => {
    if (pos + n > end) fail(`msgpack truncated at byte ${pos - start}`);
  };
  const skip = (n: number): void => {
    need(n);
    pos += n;
  };
  const open = (count: number): void => {
    if (count === 0) return;
    if (pending.length > limits.maxDepth) fail(`msgpack nested deeper than ${limits.maxDepth}`);
    // A container cannot hold more values than the bytes left can encode (1 byte each).
    if (count > end - pos) fail(`msgpack container claims ${count} values, only ${end - pos} bytes remain`);
    pending.push(count);
  };
  const ext = (len: number): void => {
    need(1);
    const type = view.getInt8(pos);
    if (!limits.allowedExtensions.has(type)) fail(`msgpack extension type ${type} not allowed`);
    skip(1 + len);
  };

  while (pending.length > 0) {
    const top = pending.length - 1;
    if (pending[top] === 0) {
      pending.pop();
      continue;
    }
    pending[top]! -= 1;
    if (++values > limits.maxValues) fail(`msgpack holds more than ${limits.maxValues} values`);
    need(1);
    const b = bytes[pos++]!;
    if (b <= 0x7f || b >= 0xe0) continue; // fixint
    if (b >= 0xa0 && b <= 0xbf) {
      skip(b & 0x1f);
      continue;
    }
    if (b >= 0x90 && b <= 0x9f) {
      open(b & 0x0f);
      continue;
    }
    if (b >= 0x80 && b <= 0x8f) {
      if (!limits.allowMaps) fail('msgpack map not allowed here');
      open((b & 0x0f) * 2);
      continue;
    }
    switch (b) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        break;
      case 0xc4:
      case 0xd9:
        need(1);
        skip(1 + bytes[pos]!);
        break;
      case 0xc5:
      case 0xda:
        need(2);
        skip(2 + view.getUint16(pos));
        break;
      case 0xc6:
      case 0xdb:
        need(4);
        skip(4 + view.getUint32(pos));
        break;
      case 0xc7:
        need(1);
        pos += 1;
        ext(bytes[pos - 1]!);
        break;
      case 0xc8:
        need(2);
        pos += 2;
        ext(view.getUint16(pos - 2));
        break;
      case 0xc9:
        need(4);
        pos += 4;
        ext(view.getUint32(pos - 4));
        break;
      case 0xca:
        skip(4);
        break;
      case 0xcb:
        skip(8);
        break;
      case 0xcc:
      case 0xd0:
        skip(1);
        break;
      case 0xcd:
      case 0xd1:
        skip(2);
        break;
      case 0xce:
      case 0xd2:
        skip(4);
        break;
      case 0xcf:
      case 0xd3:
        skip(8);
        break;
      case 0xd4:
        ext(1);
        break;
      case 0xd5:
        ext(2);
        break;
      case 0xd6:
        ext(4);
        break;
      case 0xd7:
        ext(8);
        break;
      case 0xd8:
        ext(16);
        break;
      case 0xdc:
        need(2);
        pos += 2;
        open(view.getUint16(pos - 2));
        break;
      case 0xdd:
        need(4);
        pos += 4;
        open(view.getUint32(pos - 4));
        break;
      case 0xde:
      case 0xdf: {
        if (!limits.allowMaps) fail('msgpack map not allowed here');
        const wide = b === 0xdf;
        need(wide ? 4 : 2);
        const n = wide ? view.getUint32(pos) : view.getUint16(pos);
        pos += wide ? 4 : 2;
        open(n * 2);
        break;
      }
      default:
        fail(`msgpack byte 0x${b.toString(16)} is not a valid type`); // 0xc1 (never used)
    }
  }
  if (pos !== end) fail(`msgpack has ${end - pos} trailing bytes`);
}
