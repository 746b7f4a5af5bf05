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

export { shown } from '../errors.js';

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

export function ints(v: unknown, what: string, maxItems: number): number[] {
  if (!Array.isArray(v) || v.length > maxItems)
    bad(`${what} must be an array of at most ${maxItems} integers`);
  return (v as unknown[]).map((x, i) => int(x, `${what}[${i}]`));
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

/** `clientId:counter`; the client id is 1–64 of `[A-Za-z0-9_-]`, the counter 1–15 digits, no leading 0. */
export interface ParsedRequestId {
  readonly clientId: string;
  readonly counter: number;
}

// One request id is parsed several times in a row (the packet's check, the session, the outcome
// table, at every replica): the last answer is kept. Parsed objects are shared, hence readonly.
let lastId: string | undefined;
let lastParsed: ParsedRequestId | undefined;

/** `id`'s client id and counter, or undefined when `id` is not `clientId:counter`. */
export function parseRequestId(id: string): ParsedRequestId | undefined {
  if (id === lastId) return lastParsed;
  const parsed = parseFresh(id);
  lastId = id;
  lastParsed = parsed;
  return parsed;
}

// By hand, not a regular expression: this ran several times per call and was 5 % of a loaded
// process's CPU (docs/performance.md). test/rpc/request-id.test.ts checks it against the regex.
function parseFresh(id: string): ParsedRequestId | undefined {
  const colon = id.indexOf(':');
  if (colon < 1 || colon > 64) return undefined;
  const digits = id.length - colon - 1;
  if (digits < 1 || digits > 15) return undefined;
  for (let i = 0; i < colon; i++) {
    const c = id.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
    if (!ok) return undefined;
  }
  let counter = 0;
  for (let i = colon + 1; i < id.length; i++) {
    const d = id.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (d === 0 && i === colon + 1)) return undefined;
    counter = counter * 10 + d;
  }
  return { clientId: id.slice(0, colon), counter };
}

export function requestId(v: unknown): string {
  const id = str(v, 'request id', 96);
  if (!parseRequestId(id)) bad(`request id '${id}' is not clientId:counter`);
  return id;
}
