/**
 * Per-request traces at one member: where each recent request went here, in a ring bounded by
 * request count (and each trace by step count), so a busy member keeps the last N requests.
 *
 * Recording allocates nothing: a request owns a slot of the ring, and each step kind a fixed cell
 * of typed-array columns (time, two numbers, a string, flags). `TraceStep` objects are built only
 * when a trace is read. A busy contact records six steps per call; an object per step, kept for
 * the ~1,000 requests the ring holds, lived just long enough to be promoted out of the young
 * generation and was most of what tracing cost (docs/observability.md, "Cost").
 */
import type { RequestStep } from './events.js';

/** One step of a request at one member. `at` is wall-clock milliseconds (fractional). */
export interface TraceStep {
  step: RequestStep | 'call' | 'settled';
  at: number;
  viewId?: number;
  gseq?: number;
  /** A client address (`received`, `replied`) or the contact member (`ordered`). */
  peer?: string;
  method?: string;
  status?: string;
  ok?: boolean;
  /** `outcome`: how long the method ran here; `settled`: the call's round trip. */
  ms?: number;
  /** `received`: how many copies of the call arrived (retransmissions). */
  count?: number;
  /** `settled`: the error code the caller got, if any. */
  error?: string;
}

/** What one member knows of one request. */
export interface RequestTrace {
  requestId: string;
  /** The member (or client id) that recorded it. */
  member: string;
  steps: TraceStep[];
}

/** Steps kept per request: a request's steps at one member are few; this bounds a flood of one id. */
export const MAX_STEPS = 32;

/** The step kinds, each a column cell of a slot. */
export const STEP = {
  call: 0,
  received: 1,
  cast: 2,
  ordered: 3,
  applying: 4,
  outcome: 5,
  replied: 6,
  settled: 7,
} as const satisfies Record<TraceStep['step'], number>;
export type StepKind = (typeof STEP)[keyof typeof STEP];
const KINDS = 8;
const NAMES = Object.keys(STEP) as TraceStep['step'][];

/**
 * What each kind's generic cells mean: `a` and `b` numbers, `s` a string, flags `status`/`ok`.
 * One table serves recording and reading, so the two cannot disagree.
 */
const FIELDS: Record<
  TraceStep['step'],
  { a?: 'viewId' | 'count'; b?: 'gseq' | 'ms'; s?: 'peer' | 'method' | 'error' }
> = {
  call: { s: 'method' },
  received: { a: 'count', s: 'peer' },
  cast: {},
  ordered: { a: 'viewId', b: 'gseq', s: 'peer' },
  applying: { s: 'method' },
  outcome: { a: 'viewId', b: 'ms' },
  replied: { s: 'peer' },
  settled: { b: 'ms', s: 'error' },
};

const COMMITTED = 1;
const INTERRUPTED = 2;
const OK = 4;
const FAILED = 8;

/** The flags cell of an `outcome` step. */
export function outcomeFlags(
  status: 'committed' | 'interrupted' | undefined,
  ok: boolean | undefined,
): number {
  return (
    (status === 'committed' ? COMMITTED : status === 'interrupted' ? INTERRUPTED : 0) |
    (ok === true ? OK : ok === false ? FAILED : 0)
  );
}

export class TraceRing {
  private readonly slots = new Map<string, number>();
  private readonly ids: (string | undefined)[];
  private readonly members: string[];
  private readonly at: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private readonly s: (string | undefined)[];
  private readonly flags: Uint8Array;
  /** Per cell, the order the step arrived in its slot (1-based; 0 = not recorded). */
  private readonly order: Uint8Array;
  /** Per slot, steps recorded so far (cells and repeats). */
  private readonly steps: Uint8Array;
  /** Steps of a kind already recorded in the slot (rare: a request ordered twice here), by slot. */
  private readonly repeats = new Map<number, { order: number; step: TraceStep }[]>();
  /** Slots marked slow: materialized before the ring reuses them (see {@link markSlow}). */
  private readonly slowSlots: number[] = [];
  private readonly slowKept: RequestTrace[] = [];
  private next = 0;
  /** {@link slot}'s last answer (checked against `ids` before use: the slot may be reused). */
  private lastId: string | undefined;
  private lastSlot = 0;

  /**
   * @param capacity requests kept; the oldest is forgotten first. 0 keeps none.
   * @param slowCapacity slow requests kept (by {@link markSlow}), even after the ring moves on.
   */
  constructor(
    readonly capacity: number,
    private readonly slowCapacity = 20,
  ) {
    const n = Math.max(0, capacity);
    this.ids = new Array(n).fill(undefined);
    this.members = new Array(n).fill('');
    this.at = new Float64Array(n * KINDS).fill(Number.NaN);
    this.a = new Float64Array(n * KINDS);
    this.b = new Float64Array(n * KINDS);
    this.s = new Array(n * KINDS).fill(undefined);
    this.flags = new Uint8Array(n * KINDS);
    this.order = new Uint8Array(n * KINDS);
    this.steps = new Uint8Array(n);
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * The slot of `requestId`, taken (forgetting the oldest request) unless `create` is false; -1
   * when not traced here or the ring keeps none. An event looks its request up once.
   */
  slot(requestId: string, member: string, create = true): number {
    // A request's steps often come in a row (applying then outcome, outcome then replied): the
    // last answer is kept: the Map of string ids was about half the observer's cost in a profile.
    if (requestId === this.lastId && this.ids[this.lastSlot] === requestId) return this.lastSlot;
    const found = this.slots.get(requestId);
    if (found !== undefined) {
      this.lastId = requestId;
      this.lastSlot = found;
      return found;
    }
    if (!create || this.capacity <= 0) return -1;
    const slot = this.next;
    this.next = (slot + 1) % this.capacity;
    this.evict(slot);
    this.ids[slot] = requestId;
    this.members[slot] = member;
    this.slots.set(requestId, slot);
    this.lastId = requestId;
    this.lastSlot = slot;
    return slot;
  }

  /**
   * Records step `kind` at `at` in `slot`, with the cells `FIELDS` names for that kind (NaN or
   * undefined: none; `flags` from {@link outcomeFlags}); a repeated `received` only counts the
   * copy. Positional, so that recording builds no object.
   */
  record(
    slot: number,
    kind: StepKind,
    at: number,
    a = Number.NaN,
    b = Number.NaN,
    s?: string,
    flags = 0,
  ): void {
    if (slot < 0) return;
    const cell = slot * KINDS + kind;
    if (this.order[cell] !== 0) {
      if (kind === STEP.received) {
        const n = this.a[cell]!;
        this.a[cell] = (Number.isNaN(n) ? 1 : n) + 1;
        return;
      }
      if (this.steps[slot]! >= MAX_STEPS) return;
      const order = ++this.steps[slot]!;
      const step = toStep(kind, at, a, b, s, flags);
      const list = this.repeats.get(slot);
      if (list) list.push({ order, step });
      else this.repeats.set(slot, [{ order, step }]);
      return;
    }
    if (this.steps[slot]! >= MAX_STEPS) return;
    this.order[cell] = ++this.steps[slot]!;
    this.at[cell] = at;
    this.a[cell] = a;
    this.b[cell] = b;
    this.s[cell] = s;
    this.flags[cell] = flags;
  }

  /** When step `kind` of `slot` was first recorded, or NaN. */
  stepAt(slot: number, kind: StepKind): number {
    return slot < 0 ? Number.NaN : this.at[slot * KINDS + kind]!;
  }

  /** The string cell of step `kind` (its method, peer or error), if recorded. */
  stepText(slot: number, kind: StepKind): string | undefined {
    return slot < 0 ? undefined : this.s[slot * KINDS + kind];
  }

  /** Sets the `b` cell (e.g. `ms`) of a step already recorded. */
  setB(slot: number, kind: StepKind, value: number): void {
    if (slot >= 0) this.b[slot * KINDS + kind] = value;
  }

  /** Whether `slot` holds `requestId` still (the ring may have moved on). */
  holds(slot: number, requestId: string): boolean {
    return slot >= 0 && this.ids[slot] === requestId;
  }

  /** The trace of `requestId`, built afresh, or undefined when not traced here. */
  get(requestId: string): RequestTrace | undefined {
    const slot = this.slots.get(requestId);
    return slot === undefined ? undefined : this.build(slot);
  }

  /** The first step `step` of `requestId`, if recorded. */
  step(requestId: string, step: TraceStep['step']): TraceStep | undefined {
    return this.get(requestId)?.steps.find((s) => s.step === step);
  }

  /**
   * Keeps `slot`'s request among the slow ones (the last `slowCapacity`): read through the ring
   * while it is there, copied out once before the ring reuses its slot. A loaded member can find
   * every request slow; this costs nothing per request until one is shown or forgotten.
   */
  markSlow(slot: number): void {
    if (slot < 0 || this.slowSlots[this.slowSlots.length - 1] === slot) return;
    this.slowSlots.push(slot);
    if (this.slowSlots.length + this.slowKept.length > this.slowCapacity) {
      if (this.slowKept.length > 0) this.slowKept.shift();
      else this.slowSlots.shift();
    }
  }

  /** The slow requests, oldest first. */
  slow(): RequestTrace[] {
    return [...this.slowKept.map(copyTrace), ...this.slowSlots.map((s) => this.build(s))];
  }

  private evict(slot: number): void {
    const id = this.ids[slot];
    if (id === undefined) return;
    // A slow request leaving the ring is copied out, so the slow list outlives the ring.
    const i = this.slowSlots.indexOf(slot);
    if (i >= 0) {
      this.slowKept.push(this.build(slot));
      this.slowSlots.splice(i, 1);
      if (this.slowKept.length + this.slowSlots.length > this.slowCapacity) this.slowKept.shift();
    }
    this.slots.delete(id);
    this.ids[slot] = undefined;
    this.repeats.delete(slot);
    this.steps[slot] = 0;
    const base = slot * KINDS;
    for (let k = 0; k < KINDS; k++) {
      this.order[base + k] = 0;
      this.at[base + k] = Number.NaN;
      this.s[base + k] = undefined;
    }
  }

  private build(slot: number): RequestTrace {
    const found: { order: number; step: TraceStep }[] = [];
    const base = slot * KINDS;
    for (let k = 0; k < KINDS; k++) {
      const cell = base + k;
      if (this.order[cell] === 0) continue;
      found.push({
        order: this.order[cell]!,
        step: toStep(
          k as StepKind,
          this.at[cell]!,
          this.a[cell],
          this.b[cell],
          this.s[cell],
          this.flags[cell]!,
        ),
      });
    }
    for (const r of this.repeats.get(slot) ?? []) found.push({ order: r.order, step: { ...r.step } });
    found.sort((x, y) => x.order - y.order);
    return { requestId: this.ids[slot]!, member: this.members[slot]!, steps: found.map((f) => f.step) };
  }
}

function toStep(
  kind: StepKind,
  at: number,
  a: number | undefined,
  b: number | undefined,
  s: string | undefined,
  flags: number,
): TraceStep {
  const name = NAMES[kind]!;
  const f = FIELDS[name];
  const step: TraceStep = { step: name, at };
  if (f.a && a !== undefined && !Number.isNaN(a)) step[f.a] = a;
  if (f.b && b !== undefined && !Number.isNaN(b)) step[f.b] = b;
  if (f.s && s !== undefined) step[f.s] = s;
  if (flags & (COMMITTED | INTERRUPTED)) step.status = flags & COMMITTED ? 'committed' : 'interrupted';
  if (flags & (OK | FAILED)) step.ok = (flags & OK) !== 0;
  return step;
}

/** A deep copy of `t` (callers get their own). */
export function copyTrace(t: RequestTrace): RequestTrace {
  return { ...t, steps: t.steps.map((s) => ({ ...s })) };
}
