/**
 * Per-request traces at one member: where each recent request went here, in a ring bounded by
 * request count (and each trace by step count), so a busy member keeps the last N requests.
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

export class TraceRing {
  private readonly traces = new Map<string, RequestTrace>();

  /** @param capacity requests kept; the oldest is forgotten first. 0 keeps none. */
  constructor(readonly capacity: number) {}

  get size(): number {
    return this.traces.size;
  }

  /** Adds a step; `create: false` adds it only to a request already traced here. */
  add(requestId: string, member: string, step: TraceStep, create = true): void {
    const t = this.open(requestId, member, create);
    if (t) this.push(t, step);
  }

  /**
   * The trace of `requestId`, created (forgetting the oldest) unless `create` is false; undefined
   * when not traced here or the ring keeps none. With {@link push} and {@link stepOf} an event
   * looks its request up once, not once per step it reads or writes.
   */
  open(requestId: string, member: string, create = true): RequestTrace | undefined {
    if (this.capacity <= 0) return undefined;
    let t = this.traces.get(requestId);
    if (!t) {
      if (!create) return undefined;
      t = { requestId, member, steps: [] };
      this.traces.set(requestId, t);
      if (this.traces.size > this.capacity) this.traces.delete(this.traces.keys().next().value as string);
    }
    return t;
  }

  /** Adds `step` to `t` (a trace of this ring); a repeated `received` only counts the copy. */
  push(t: RequestTrace, step: TraceStep): void {
    if (step.step === 'received') {
      const seen = stepOf(t, 'received');
      if (seen) {
        seen.count = (seen.count ?? 1) + 1;
        return;
      }
    }
    if (t.steps.length < MAX_STEPS) t.steps.push(step);
  }

  get(requestId: string): RequestTrace | undefined {
    return this.traces.get(requestId);
  }

  /** The step `step` of `requestId`, if recorded. */
  step(requestId: string, step: TraceStep['step']): TraceStep | undefined {
    const t = this.traces.get(requestId);
    return t && stepOf(t, step);
  }
}

/** The first step `step` of `t`, if recorded. */
export function stepOf(t: RequestTrace, step: TraceStep['step']): TraceStep | undefined {
  for (const s of t.steps) if (s.step === step) return s;
  return undefined;
}
