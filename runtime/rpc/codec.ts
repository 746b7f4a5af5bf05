/**
 * Values on the RPC wire: msgpack with maps (structs), the timestamp extension (`Date`) and
 * 64-bit integers (`bigint`). Decoding walks the bytes with the guard first, so hostile input
 * is refused before msgpackr sees it and no other extension (records, RegExp, Error, Set,
 * structured-clone references) can be instantiated.
 */
import { Packr, Unpackr } from 'msgpackr';
import { DecodeError } from '../wire/errors.js';
import { type GuardLimits, guardMsgpack } from '../wire/msgpack-guard.js';
import { EncodeError } from './errors.js';

/** Limits for RPC values and messages: maps allowed, only the timestamp extension (-1). */
export const VALUE_LIMITS: GuardLimits = {
  maxDepth: 32,
  maxValues: 1 << 18,
  allowMaps: true,
  allowedExtensions: new Set([-1]),
};

/** Limits for state snapshots (from a replica of the same group; large but still bounded). */
export const SNAPSHOT_LIMITS: GuardLimits = { ...VALUE_LIMITS, maxDepth: 64, maxValues: 1 << 26 };

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Encodes one value; throws {@link EncodeError} for what msgpack cannot carry. */
export function encodeValue(v: unknown): Uint8Array {
  try {
    const out = packr.pack(v);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new EncodeError(`value cannot be encoded: ${(e as Error).message}`);
  }
}

/** Whether `v` survives encoding (used to keep only encodable error details). */
export function encodable(v: unknown): boolean {
  if (typeof v === 'function' || typeof v === 'symbol') return false;
  try {
    packr.pack(v);
    return true;
  } catch {
    return false;
  }
}

/** Decodes one value; throws nothing but {@link DecodeError}. */
export function decodeValue(bytes: Uint8Array, limits: GuardLimits = VALUE_LIMITS): unknown {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('DECODE_BAD_SHAPE', 'value is not bytes');
  guardMsgpack(bytes, 0, bytes.length, limits);
  try {
    return unpackr.unpack(bytes);
  } catch (e) {
    throw new DecodeError('DECODE_BAD_BODY', `msgpack value rejected: ${(e as Error).message}`);
  }
}
