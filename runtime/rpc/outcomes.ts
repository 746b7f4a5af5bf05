/**
 * The replicated outcome table: what each ordered request produced, recorded by every replica
 * as part of applying it (so it is identical everywhere and travels with state transfer).
 *
 * Bounds (docs/rpc.md, "Outcome retention"):
 * - at most `perClient` outcomes per client (the highest counters are kept);
 * - outcomes older than `maxAgeMs` of order time (the ordered `now`) are dropped;
 * - a client with no outcome left is forgotten `clientTtlMs` after its last ordered request,
 *   and at most `maxClients` clients are remembered (least recently active forgotten first).
 *
 * Dropping an outcome raises the client's *floor*: a request at or below the floor that has
 * no outcome is answered `expired` and never runs (it may have run before). All eviction is a
 * function of the order alone, so replicas evict identically.
 */
import { bad, bytes, int, parseRequestId, type Result, resultFromTuple, str } from './result.js';

export interface OutcomeLimits {
  /** Outcomes kept per client. Default 256. */
  perClient: number;
  /** Outcome lifetime in order time (ms). Default 10 minutes. */
  maxAgeMs: number;
  /** How long a client's floor is kept after its last ordered request (ms). Default 1 hour. */
  clientTtlMs: number;
  /** Clients remembered. Default 10,000. */
  maxClients: number;
}

export const DEFAULT_OUTCOME_LIMITS: OutcomeLimits = {
  perClient: 256,
  maxAgeMs: 10 * 60_000,
  clientTtlMs: 60 * 60_000,
  maxClients: 10_000,
};

export type RecordedOutcome =
  | { status: 'committed'; result: Result; viewId: number; at: number }
  | { status: 'interrupted'; viewId: number; at: number };

export type Lookup = RecordedOutcome | { status: 'expired' } | undefined;

interface ClientEntry {
  /** Highest counter whose outcome was dropped; 0 if none. */
  floor: number;
  /** Order time of this client's last recorded outcome. */
  lastAt: number;
  outcomes: Map<number, RecordedOutcome>;
}

/** Snapshot form (msgpack-friendly arrays). */
export type OutcomeTableState = [
  lastSweep: number,
  clients: [clientId: string, floor: number, lastAt: number, outcomes: [number, unknown[]][]][],
];

export class OutcomeTable {
  private clients = new Map<string, ClientEntry>();
  private lastSweep = 0;
  private readonly limits: OutcomeLimits;

  constructor(limits: Partial<OutcomeLimits> = {}) {
    this.limits = { ...DEFAULT_OUTCOME_LIMITS, ...limits };
  }

  get(id: string): Lookup {
    const p = parseRequestId(id);
    if (!p) return undefined;
    const c = this.clients.get(p.clientId);
    if (!c) return undefined;
    const o = c.outcomes.get(p.counter);
    if (o) return o;
    return p.counter <= c.floor ? { status: 'expired' } : undefined;
  }

  /** Records `id`'s outcome at order time `at`, then applies the bounds. */
  record(id: string, outcome: RecordedOutcome): void {
    const p = parseRequestId(id);
    if (!p) return;
    let c = this.clients.get(p.clientId);
    if (c) this.clients.delete(p.clientId); // re-inserted last: Map order is least recently active first
    c ??= { floor: 0, lastAt: outcome.at, outcomes: new Map() };
    c.lastAt = Math.max(c.lastAt, outcome.at);
    c.outcomes.set(p.counter, outcome);
    this.clients.set(p.clientId, c);
    while (c.outcomes.size > this.limits.perClient) {
      const lowest = Math.min(...c.outcomes.keys());
      c.outcomes.delete(lowest);
      c.floor = Math.max(c.floor, lowest);
    }
    while (this.clients.size > this.limits.maxClients) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
    }
    this.sweep(outcome.at);
  }

  /** Number of outcomes held (all clients). */
  get size(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.outcomes.size;
    return n;
  }

  /** Age-based eviction, run at most every `maxAgeMs / 8` of order time. */
  private sweep(now: number): void {
    const interval = Math.max(1, Math.floor(this.limits.maxAgeMs / 8));
    if (now - this.lastSweep < interval) return;
    this.lastSweep = now;
    for (const [id, c] of this.clients) {
      for (const [counter, o] of c.outcomes) {
        if (now - o.at > this.limits.maxAgeMs) {
          c.outcomes.delete(counter);
          c.floor = Math.max(c.floor, counter);
        }
      }
      if (c.outcomes.size === 0 && now - c.lastAt > this.limits.clientTtlMs) this.clients.delete(id);
    }
  }

  snapshot(): OutcomeTableState {
    return [
      this.lastSweep,
      [...this.clients].map(([id, c]) => [
        id,
        c.floor,
        c.lastAt,
        [...c.outcomes].map(([n, o]) => [
          n,
          o.status === 'committed'
            ? [1, o.viewId, o.at, o.result.ok ? [1, o.result.value] : [0, o.result.error]]
            : [0, o.viewId, o.at],
        ]),
      ]),
    ];
  }

  /**
   * Installs a snapshot from {@link snapshot}, checked whole first (it comes from another
   * process): a malformed one throws `DecodeError` and changes nothing.
   */
  restore(state: unknown): void {
    if (!Array.isArray(state) || state.length !== 2) bad('outcome table must be [lastSweep, clients]');
    const [lastSweep, clients] = state as unknown[];
    if (!Array.isArray(clients)) bad('outcome table clients must be an array');
    const restored = new Map<string, ClientEntry>();
    for (const c of clients as unknown[]) {
      if (!Array.isArray(c) || c.length !== 4)
        bad('outcome table client must be [id, floor, lastAt, outcomes]');
      const [id, floor, lastAt, outcomes] = c as unknown[];
      const clientId = str(id, 'client id', 64);
      if (!parseRequestId(`${clientId}:1`) || restored.has(clientId))
        bad('outcome table client id invalid or repeated');
      if (!Array.isArray(outcomes)) bad('outcome table outcomes must be an array');
      const m = new Map<number, RecordedOutcome>();
      for (const e of outcomes as unknown[]) {
        if (!Array.isArray(e) || e.length !== 2) bad('outcome must be [counter, record]');
        const [n, o] = e as unknown[];
        m.set(int(n, 'outcome counter'), recordFromTuple(o));
      }
      restored.set(clientId, {
        floor: int(floor, 'client floor'),
        lastAt: int(lastAt, 'client lastAt'),
        outcomes: m,
      });
    }
    this.lastSweep = int(lastSweep, 'lastSweep');
    this.clients = restored;
  }
}

function recordFromTuple(o: unknown): RecordedOutcome {
  if (!Array.isArray(o)) return bad('outcome record must be an array');
  const viewId = int(o[1], 'outcome view id');
  const at = int(o[2], 'outcome time');
  if (o[0] === 0 && o.length === 3) return { status: 'interrupted', viewId, at };
  if (o[0] !== 1 || o.length !== 4 || !Array.isArray(o[3]))
    return bad('outcome record is neither committed nor interrupted');
  const r = o[3] as unknown[];
  if (r[0] === 1 && r.length === 2)
    return { status: 'committed', viewId, at, result: { ok: true, value: bytes(r[1], 'outcome value') } };
  if (r[0] !== 0 || r.length !== 2) return bad('outcome result must be [1, value] or [0, error]');
  const w = r[1];
  if (typeof w !== 'object' || w === null || Array.isArray(w) || w instanceof Uint8Array)
    return bad('outcome error must be a map');
  const { name, message, code, details } = w as Record<string, unknown>;
  const tuple = [0, name, message, code, details ?? null];
  return { status: 'committed', viewId, at, result: resultFromTuple(tuple) };
}
