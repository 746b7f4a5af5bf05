/**
 * The shapes of the answers to the `status` and `trace` queries, checked where they arrive
 * (`queryGroup`). An answer comes from a member, or from anyone able to send a packet a member's
 * way (without a key, from a spoofed source address): `troupe status` read it as a
 * `MemberStatus` as it came, and a field of the wrong type (`stats` missing, a time past what a
 * `Date` holds, a `bigint` where JSON has none) ended the command with a bare `TypeError` or
 * `RangeError`, and the live page's peer table with it. Each reader returns a fresh object of
 * the known fields only, or throws {@link MalformedAnswerError} naming the first field that is
 * not what it should be.
 */
import { TroupeError } from '../errors.js';
import type { DivergenceRecord } from './divergence.js';
import type { MemberStatus, ViewRecord } from './observer.js';
import type { RequestTrace, TraceStep } from './traces.js';

/** `OBSERVE_MALFORMED_ANSWER`: a member's answer to an observability query is not of its shape. */
export class MalformedAnswerError extends TroupeError {
  constructor(
    /** The query whose answer it was (`status`, `trace`). */
    readonly query: string,
    /** Where in the answer, e.g. `views[2].at`. */
    readonly path: string,
    why: string,
  ) {
    super('OBSERVE_MALFORMED_ANSWER', `malformed ${query} answer: ${path || 'the answer'} ${why}`);
  }
}

/** Largest magnitude of a time `Date` can hold (ms from the epoch): `toISOString` throws past it. */
const MAX_TIME = 8.64e15;

class Reader {
  constructor(private readonly query: string) {}

  fail(path: string, why: string): never {
    // A field of the answer itself is built as `.name` from the root's empty path.
    throw new MalformedAnswerError(this.query, path.replace(/^\./, ''), why);
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date || ArrayBuffer.isView(v))
      this.fail(path, 'is not an object');
    return v as Record<string, unknown>;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'is not a list');
    return v;
  }

  list<T>(v: unknown, path: string, each: (x: unknown, path: string) => T): T[] {
    return this.array(v, path).map((x, i) => each(x, `${path}[${i}]`));
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'is not a string');
    return v;
  }

  /** A string, or absent (msgpack carries `undefined` as nil). */
  optString(v: unknown, path: string): string | undefined {
    return v === undefined || v === null ? undefined : this.string(v, path);
  }

  strings(v: unknown, path: string): string[] {
    return this.list(v, path, (x, p) => this.string(x, p));
  }

  number(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, 'is not a finite number');
    return v;
  }

  optNumber(v: unknown, path: string): number | undefined {
    return v === undefined || v === null ? undefined : this.number(v, path);
  }

  /** A non-negative integer (view ids, counts). */
  uint(v: unknown, path: string): number {
    const n = this.number(v, path);
    if (!Number.isSafeInteger(n) || n < 0) this.fail(path, 'is not a non-negative integer');
    return n;
  }

  /** Wall-clock ms that a `Date` can hold. */
  time(v: unknown, path: string): number {
    const n = this.number(v, path);
    if (Math.abs(n) > MAX_TIME) this.fail(path, 'is not a time');
    return n;
  }

  boolean(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'is not a boolean');
    return v;
  }

  /** A plain object's own entries, each value read by `each`. */
  record<T>(v: unknown, path: string, each: (x: unknown, path: string) => T): Record<string, T> {
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(this.object(v, path))) out[k] = each(x, `${path}.${k}`);
    return out;
  }
}

const STEPS: ReadonlySet<string> = new Set([
  'call',
  'received',
  'cast',
  'ordered',
  'applying',
  'outcome',
  'replied',
  'settled',
]);

function readStep(r: Reader, v: unknown, path: string): TraceStep {
  const o = r.object(v, path);
  const step = r.string(o.step, `${path}.step`);
  if (!STEPS.has(step)) r.fail(`${path}.step`, 'is not a step');
  const out: TraceStep = { step: step as TraceStep['step'], at: r.time(o.at, `${path}.at`) };
  const viewId = r.optNumber(o.viewId, `${path}.viewId`);
  const gseq = r.optNumber(o.gseq, `${path}.gseq`);
  const peer = r.optString(o.peer, `${path}.peer`);
  const method = r.optString(o.method, `${path}.method`);
  const status = r.optString(o.status, `${path}.status`);
  const ms = r.optNumber(o.ms, `${path}.ms`);
  const count = r.optNumber(o.count, `${path}.count`);
  const error = r.optString(o.error, `${path}.error`);
  if (viewId !== undefined) out.viewId = viewId;
  if (gseq !== undefined) out.gseq = gseq;
  if (peer !== undefined) out.peer = peer;
  if (method !== undefined) out.method = method;
  if (status !== undefined) out.status = status;
  if (o.ok !== undefined && o.ok !== null) out.ok = r.boolean(o.ok, `${path}.ok`);
  if (ms !== undefined) out.ms = ms;
  if (count !== undefined) out.count = count;
  if (error !== undefined) out.error = error;
  return out;
}

function readTrace(r: Reader, v: unknown, path: string): RequestTrace {
  const o = r.object(v, path);
  return {
    requestId: r.string(o.requestId, `${path}.requestId`),
    member: r.string(o.member, `${path}.member`),
    steps: r.list(o.steps, `${path}.steps`, (x, p) => readStep(r, x, p)),
  };
}

function readViewRecord(r: Reader, v: unknown, path: string): ViewRecord {
  const o = r.object(v, path);
  const flushMs = r.optNumber(o.flushMs, `${path}.flushMs`);
  return {
    at: r.time(o.at, `${path}.at`),
    viewId: r.uint(o.viewId, `${path}.viewId`),
    members: r.strings(o.members, `${path}.members`),
    joined: r.strings(o.joined, `${path}.joined`),
    left: r.strings(o.left, `${path}.left`),
    failed: r.strings(o.failed, `${path}.failed`),
    ...(flushMs !== undefined ? { flushMs } : {}),
  };
}

function readDivergence(r: Reader, v: unknown, path: string): DivergenceRecord {
  const o = r.object(v, path);
  return {
    at: r.time(o.at, `${path}.at`),
    checkpoint: r.string(o.checkpoint, `${path}.checkpoint`),
    viewId: r.uint(o.viewId, `${path}.viewId`),
    digests: r.record(o.digests, `${path}.digests`, (x, p) => r.strings(x, p)),
    lastRequests: r.record(o.lastRequests, `${path}.lastRequests`, (x, p) => r.optString(x, p)),
    minority: r.strings(o.minority, `${path}.minority`),
    // Absent from members of older releases, and whenever no report named an origin.
    ...(o.origins !== undefined
      ? { origins: r.record(o.origins, `${path}.origins`, (x, p) => r.string(x, p)) }
      : {}),
  };
}

/**
 * A `status` answer as a {@link MemberStatus} of the known fields; throws
 * {@link MalformedAnswerError} if it is not one.
 */
export function readStatusAnswer(v: unknown): MemberStatus {
  const r = new Reader('status');
  const o = r.object(v, '');
  let view: MemberStatus['view'];
  if (o.view !== undefined && o.view !== null) {
    const w = r.object(o.view, 'view');
    view = {
      id: r.uint(w.id, 'view.id'),
      members: r.strings(w.members, 'view.members'),
      addresses: r.strings(w.addresses, 'view.addresses'),
    };
  }
  let applying: MemberStatus['applying'];
  if (o.applying !== undefined && o.applying !== null) {
    const a = r.object(o.applying, 'applying');
    applying = {
      requestId: r.string(a.requestId, 'applying.requestId'),
      method: r.string(a.method, 'applying.method'),
      ms: r.number(a.ms, 'applying.ms'),
    };
  }
  return {
    member: r.optString(o.member, 'member'),
    group: r.optString(o.group, 'group'),
    address: r.optString(o.address, 'address'),
    view,
    coordinator: r.optString(o.coordinator, 'coordinator'),
    sequencer: r.optString(o.sequencer, 'sequencer'),
    locks: r.list(o.locks, 'locks', (x, p) => {
      const l = r.object(x, p);
      return { lock: r.string(l.lock, `${p}.lock`), holder: r.optString(l.holder, `${p}.holder`) };
    }),
    views: r.list(o.views, 'views', (x, p) => readViewRecord(r, x, p)),
    suspicions: r.list(o.suspicions, 'suspicions', (x, p) => {
      const s = r.object(x, p);
      return {
        at: r.time(s.at, `${p}.at`),
        member: r.string(s.member, `${p}.member`),
        silentMs: r.number(s.silentMs, `${p}.silentMs`),
      };
    }),
    slow: r.list(o.slow, 'slow', (x, p) => readTrace(r, x, p)),
    divergences: r.list(o.divergences, 'divergences', (x, p) => readDivergence(r, x, p)),
    applying,
    rssBytes: r.number(o.rssBytes, 'rssBytes'),
    at: r.time(o.at, 'at'),
    stats: r.record(o.stats, 'stats', (x, p) => r.record(x, p, (n, q) => r.number(n, q))),
  };
}

/**
 * A `trace` answer: a {@link RequestTrace}, or null (the member knows nothing of the request);
 * throws {@link MalformedAnswerError} if it is neither.
 */
export function readTraceAnswer(v: unknown): RequestTrace | null {
  if (v === null || v === undefined) return null;
  return readTrace(new Reader('trace'), v, '');
}

/** The reader of each query's answer, by query name. */
export const ANSWER_READERS: Readonly<Record<string, (v: unknown) => unknown>> = {
  status: readStatusAnswer,
  trace: readTraceAnswer,
};
