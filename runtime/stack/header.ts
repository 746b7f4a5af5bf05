import { DecodeError } from '../wire/errors.js';
import { fromHeaders, type Msg, Stacked } from './types.js';

/**
 * Checks for headers popped off the wire. A layer validates its header before it changes any
 * state; a failed check throws {@link DecodeError}, which the stack counts as a refused input.
 */
export function headerTuple(h: unknown, layer: string, minLength: number): unknown[] {
  if (!Array.isArray(h) || h.length < minLength)
    throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: header must be an array of at least ${minLength}`);
  return h;
}

export function headerUint(v: unknown, layer: string, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: ${what} must be a non-negative integer`);
  return v;
}

export function headerString(v: unknown, layer: string, what: string, maxLength = 256): string {
  if (typeof v !== 'string' || v.length > maxLength)
    throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: ${what} must be a string of at most ${maxLength}`);
  return v;
}

export function headerBytes(v: unknown, layer: string, what: string): Uint8Array {
  if (!(v instanceof Uint8Array))
    throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: ${what} must be bytes`);
  return v;
}

/** Pop a layer's `[kind, ...]` header off a received message, validated; the rest of the message
 * (headers of the layers above) is returned alongside. */
export function popKindHeader(msg: Msg, layer: string): { h: unknown[]; kind: number; rest: Msg } {
  // popHeader inlined: its [header, rest] pair was one more allocation per layer per message.
  let top: unknown;
  let rest: Msg;
  if (msg instanceof Stacked) {
    // What the stack built (com and pack decode into it, and a loop-back is what was pushed):
    // the rest is the message below, no copy.
    top = msg.top;
    rest = msg.below;
  } else {
    const n = msg.headers.length;
    if (n === 0) throw new DecodeError('DECODE_BAD_SHAPE', `${layer}: missing header`);
    top = msg.headers[n - 1];
    rest = { headers: msg.headers.slice(0, n - 1), payload: msg.payload };
  }
  const h = headerTuple(top, layer, 1);
  const kind = headerUint(h[0], layer, 'kind');
  return { h, kind, rest };
}

/**
 * Messages carried inside another, as `[[headers, payload], ...]` (pack's packets, batch's
 * batches), each checked: the whole list is validated before the caller delivers any of it, so
 * a bad entry delivers nothing.
 */
export function innerMessages(list: unknown, layer: string): Msg[] {
  return headerTuple(list, layer, 1).map((s) => {
    const t = headerTuple(s, layer, 2);
    return fromHeaders(headerTuple(t[0], layer, 0), headerBytes(t[1], layer, 'payload'));
  });
}

/** How much a layer that bundles messages (pack, batch) puts in one bundle. */
export interface BundleBounds {
  /** Close a bundle before its payloads would exceed this many bytes (with a header estimate). */
  maxBytes: number;
  /** Most messages in one bundle. */
  maxMessages: number;
}
