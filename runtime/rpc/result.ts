/**
 * The outcome of running one method, as replicas record it and replies carry it: the encoded
 * return value, or the error in its wire form. Also the small shape checks every decoder here
 * uses, so a malformed message is refused with one {@link DecodeError}.
 */

import { DecodeError } from '../wire/errors.js';
import type { ReplyMode } from './api.js';
import type { WireError } from './errors.js';

export type Result = { ok: true; value: Uint8Array } | { ok: false; error: WireError };

/** Wire form: `[1, valueBytes]` or `[0, name, message, code, details | nil]`. */
export type ResultTuple = [1, Uint8Array] | [0, string, string, string, Record<string, unknown> | null];

export function resultToTuple(r: Result): ResultTuple {
  return r.ok ? [1, r.value] : [0, r.error.name, r.error.message, r.error.code, r.error.details ?? null];
}

export const bad = (what: string): never => {
  throw new DecodeError('DECODE_BAD_SHAPE', what);
};

/**
 * Names an untrusted decoded value in an error message. `String(v)` or a template literal
 * would call the value's own `toString`, which a decoded map can replace (`{"toString": 1}`
 * makes it throw a `TypeError`); only primitives are printed, anything else by its type.
 */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v == null) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'a map' : typeof v;
}

export function str(v: unknown, what: string, max = 1024): string {
  if (typeof v !== 'string' || v.length > max) bad(`${what} must be a string of at most ${max} characters`);
  return v as string;
}

export function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    bad(`${what} must be a non-negative integer`);
  return v as number;
}

export function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} must be bytes`);
  return v as Uint8Array;
}

export function strings(v: unknown, what: string, maxItems = 4096): string[] {
  if (!Array.isArray(v) || v.length > maxItems)
    bad(`${what} must be an array of at most ${maxItems} strings`);
  return (v as unknown[]).map((x, i) => str(x, `${what}[${i}]`, 256));
}

const MODES: readonly string[] = ['first', 'all', 'majority', 'none'];
export function mode(v: unknown): ReplyMode {
  if (typeof v !== 'string' || !MODES.includes(v)) bad(`reply mode must be one of ${MODES.join(', ')}`);
  return v as ReplyMode;
}

export function resultFromTuple(v: unknown): Result {
  if (!Array.isArray(v)) return bad('result must be an array');
  if (v[0] === 1 && v.length === 2) return { ok: true, value: bytes(v[1], 'result value') };
  if (v[0] === 0 && v.length === 5) {
    const details = v[4];
    if (
      details !== null &&
      (typeof details !== 'object' || Array.isArray(details) || details instanceof Uint8Array)
    )
      bad('error details must be a map or nil');
    const error: WireError = {
      name: str(v[1], 'error name', 256),
      message: str(v[2], 'error message', 64 * 1024),
      code: str(v[3], 'error code', 256),
    };
    if (details) error.details = details as Record<string, unknown>;
    return { ok: false, error };
  }
  return bad('result must be [1, value] or [0, name, message, code, details]');
}

/** `clientId:counter`; the client id is 1–64 of `[A-Za-z0-9_-]`. */
const REQUEST_ID = /^([A-Za-z0-9_-]{1,64}):([1-9][0-9]{0,14})$/;

export interface ParsedRequestId {
  clientId: string;
  counter: number;
}

export function parseRequestId(id: string): ParsedRequestId | undefined {
  const m = REQUEST_ID.exec(id);
  return m ? { clientId: m[1]!, counter: Number(m[2]) } : undefined;
}

export function requestId(v: unknown): string {
  const id = str(v, 'request id', 96);
  if (!parseRequestId(id)) bad(`request id '${id}' is not clientId:counter`);
  return id;
}
