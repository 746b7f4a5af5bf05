/**
 * The replicated outcome table: what each ordered request produced, recorded by every replica
 * as part of applying it (so it is identical everywhere and travels with state transfer).
 *
 * Retention follows **client sessions** (docs/rpc.md, "Outcome table and retention"), as in
 * Raft's client sessions: every request carries its client's *settled watermark*, the highest
 * counter below which the client will never ask about a request again (it has its answer, or
 * gave up on it). Applying the request drops that client's outcomes at or below the watermark
 * and raises its *floor* to it: a request at or below the floor with no outcome is answered
 * `expired` and never runs. Nothing the client has not settled is dropped while its session
 * lives, whatever the clocks say and however many later calls it makes.
 *
 * A session ends when its client vanishes: once `sessionRequests` ordered requests (of all
 * clients) were applied after its last one, or when `maxClients` more recently active sessions
 * push it out. An outcome query about a client with no session makes one to hold its fence (a
 * *queried* session: fences only, no request of it applied); those are bounded apart, by half
 * of `maxClients`, so a flood of such queries ends only sessions of its own kind, never a
 * client's (FINDINGS 71: it pushed out sessions whose outcomes a retransmission then ran
 * again), and ordinary clients coming and going never end a queried one. A client's session
 * holding no outcome is not ended before others: its floor refuses duplicates of calls it
 * settled, and its client may be waiting on a handler call whose outcome comes later (both ran
 * twice when such sessions went first; FINDINGS 113). A session also records the host its
 * client's first request came from (the request's client address, which the contact proved
 * without a key by cookie; an IPv6 host by its /64), and one host holds at most `perHost`
 * sessions: past it, that host's least recently active session ends, never another host's. Every
 * client id a request names makes a session, and without a key anyone is a client: a stranger
 * inventing 10,000 client ids ended every other client's session, and their retransmissions of
 * committed calls ran again (FINDINGS 226). Every bound counts positions in the total
 * order, never time, and the host is part of the ordered request, so every replica ends the
 * same sessions at the same point. `perClient`
 * caps the outcomes one session holds above its floor, a defence against a client that never
 * settles (its lowest are then dropped).
 *
 * A watermark alone says only where the client's *oldest* unsettled request is: one request left
 * unsettled (a fail-over nobody asked about) held every later outcome of its client until the
 * `perClient` cap dropped that very request (FINDINGS 91). So a request also carries `keep`, the
 * few counters at or below its watermark the client has not settled (its requests far behind its
 * newest, {@link MAX_KEPT} at most): the floor passes them, they stay until a later watermark
 * covers them without listing them.
 */
import { hostShareKey, parseAddress } from '../transport/address.js';
import { RpcConfigError } from './errors.js';
import { bad, parseRequestId, type Result, resultFromTuple, resultToTuple, strings } from './result.js';

/**
 * Bounds of the outcome table, the replicated record of each client's requests that makes a
 * call exactly-once and answers outcome queries (`ReplicaOptions.outcomeLimits`). Every replica
 * of a group must use the same values: the table is part of the replicated state.
 */
export interface OutcomeLimits {
  /**
   * Outcomes one client session holds above its settled watermark; past it the lowest are
   * dropped (answered `expired`). Only a client that leaves more than this many of its requests
   * unsettled reaches it. Default 65,536.
   */
  perClient: number;
  /** A session ends once this many ordered requests were applied after its client's last one. Default 1,000,000. */
  sessionRequests: number;
  /** Client sessions remembered; past it the least recently active ends. Sessions an outcome
   * query made (fences only, no request applied) are bounded apart, by half of it. Default 10,000. */
  maxClients: number;
  /**
   * Client sessions one host holds (the host of a session's first request; an IPv6 host by its
   * /64); past it that host's least recently active session ends, never another host's.
   * Default an eighth of `maxClients` (1,250).
   */
  perHost: number;
}

/** The {@link OutcomeLimits} a replica uses for each field its options leave out. */
export const DEFAULT_OUTCOME_LIMITS: OutcomeLimits = {
  perClient: 65_536,
  sessionRequests: 1_000_000,
  maxClients: 10_000,
  perHost: 1_250,
};

/**
 * The view a replica recorded an outcome in, kept with the outcome in memory only (a snapshot
 * carries `viewId` alone): what a reply from the table names (see `Replica`, FINDINGS 142).
 */
export interface OutcomeView {
  readonly id: number;
  readonly members: string[];
}

export type RecordedOutcome =
  | { status: 'committed'; result: Result; viewId: number; at: number; view?: OutcomeView }
  | { status: 'interrupted'; viewId: number; at: number; view?: OutcomeView };

/** Counters a request may list as unsettled below its watermark (`keep`). */
export const MAX_KEPT = 64;

export type Lookup = RecordedOutcome | { status: 'expired' } | undefined;

interface Session {
  /** Highest counter the client settled (or whose outcome the `perClient` cap dropped); 0 if none. */
  floor: number;
  /**
   * Counters at or below `floor` the client has not settled (its `keep` when the floor passed
   * them), until a watermark covers them without listing them; undefined when none. At most
   * {@link MAX_KEPT}: only the request that raised the floor last adds to it.
   */
  kept: Set<number> | undefined;
  /** Position in the order (requests applied) of this client's last request. */
  lastSeen: number;
  outcomes: Map<number, RecordedOutcome>;
  /**
   * `outcomes` holds its counters in increasing Map order (true while each new counter was above
   * `top`): pruning below a watermark then stops at the first counter above it instead of walking
   * every outcome held, which was per request and about the calls the client has in flight.
   */
  sorted: boolean;
  /** Highest counter added to `outcomes` since it was last empty. */
  top: number;
  /** Requests with no outcome → the highest issue whose copies are refused from here on (fences). */
  fences: Map<number, number>;
  /** A request of this client was applied (`request`); a session without one was made by an
   * outcome query or a late `record`. */
  requested: boolean;
  /**
   * The host (`hostShareKey` of the client address) of the first request of this client the
   * table applied with one; undefined for a session no request made (a queried one), or one
   * restored from a snapshot of an earlier release until its next request.
   */
  host: string | undefined;
  /** The client id (the key of `clients`). */
  id: string;
  /** `host`'s sessions, once this one is filed there, and its neighbours in that list. */
  hostList: HostSessions | undefined;
  hostPrev: Session | undefined;
  hostNext: Session | undefined;
}

/**
 * One host's sessions, least recently active first: a list through the sessions themselves, so
 * refreshing one costs a few pointers (and nothing when it is already last), never a Map's
 * delete and set per request.
 */
interface HostSessions {
  first: Session | undefined;
  last: Session | undefined;
  size: number;
}

/** Snapshot form (msgpack-friendly arrays). */
export type OutcomeTableState = [
  progress: number,
  lastSweep: number,
  clients: [
    clientId: string,
    floor: number,
    lastSeen: number,
    outcomes: [number, unknown[]][],
    fences: [counter: number, upTo: number][],
    kept?: number[],
    /** 1 or 0: whether a request of the client was applied, present only where the session's
     * other fields would suggest the other answer (see `requestedByLook`). */
    requested?: number,
  ][],
  /**
   * The sessions' hosts, each host once with the positions in `clients` of its sessions, in
   * order; absent when no session has one (an earlier release neither writes nor reads it).
   */
  hosts?: [host: string, sessions: number[]][],
];

const LIMIT_NAMES = ['perClient', 'sessionRequests', 'maxClients', 'perHost'] as const;

export class OutcomeTable {
  /** Every session, least recently active first. */
  private clients = new Map<string, Session>();
  /** The sessions of `clients` an outcome query made (see {@link isQueried}), in the same order. */
  private queried = new Map<string, Session>();
  /** The other sessions of `clients` (its clients'), in the same order: they end past `maxClients`. */
  private own = new Map<string, Session>();
  /** The sessions of `own` with a host, by host, in the same order: each bounded by `perHost`. */
  private hosts = new Map<string, HostSessions>();
  /** The session {@link touched} filed last. */
  private lastTouched: string | undefined;
  /** Ordered requests applied: the order's own progress, identical at every replica. */
  private progress = 0;
  private lastSweep = 0;
  /** The client whose session is last in `clients` (most recently active), if known. */
  private newest: string | undefined;
  private readonly limits: OutcomeLimits;

  constructor(limits: Partial<OutcomeLimits> = {}) {
    this.limits = {
      ...DEFAULT_OUTCOME_LIMITS,
      perHost: Math.max(1, Math.floor((limits.maxClients ?? DEFAULT_OUTCOME_LIMITS.maxClients) / 8)),
      ...limits,
    };
    for (const k of LIMIT_NAMES) {
      const v = this.limits[k];
      if (!Number.isSafeInteger(v) || v < 1)
        throw new RpcConfigError(`outcome limit ${k} must be a positive integer, got ${String(v)}`);
    }
  }

  get(id: string): Lookup {
    const p = parseRequestId(id);
    if (!p) return undefined;
    const c = this.clients.get(p.clientId);
    if (!c) return undefined;
    const o = c.outcomes.get(p.counter);
    if (o) return o;
    return settledIn(c, p.counter) ? { status: 'expired' } : undefined;
  }

  /**
   * Applies one ordered request of `id`'s client (call before looking `id` up): the order
   * advances by one, the client's session is refreshed, and everything at or below `settled`
   * (the client's watermark, when the request carries one) but the counters of `keep` is dropped.
   * `client`: the request's client address; the session's host, when it has none yet.
   */
  request(id: string, settled: number | undefined, keep?: readonly number[], client?: string): void {
    const p = parseRequestId(id);
    if (!p) return;
    this.progress++;
    const c = this.session(p.clientId);
    c.requested = true;
    if (c.host === undefined && client !== undefined) {
      c.host = hostOf(client);
      this.lastTouched = undefined; // to be filed under its host
    }
    if (settled !== undefined) settle(c, settled, keep);
    this.touched(p.clientId, c);
    this.sweep();
  }

  /** Records `id`'s outcome, then applies the bounds. */
  record(id: string, outcome: RecordedOutcome): void {
    const p = parseRequestId(id);
    if (!p) return;
    const c = this.session(p.clientId);
    // An outcome is only recorded for a request applied (maybe before its session ended): the
    // mark then agrees with the look, and the snapshot keeps the earlier form.
    c.requested = true;
    this.recordIn(c, p.counter, outcome);
    this.touched(p.clientId, c);
  }

  private recordIn(c: Session, counter: number, outcome: RecordedOutcome): void {
    if (settledIn(c, counter)) return; // settled by its client: nobody will ask for it
    if (!c.outcomes.has(counter)) {
      if (counter > c.top) c.top = counter;
      else c.sorted = false;
    }
    c.outcomes.set(counter, outcome);
    c.fences.delete(counter);
    while (c.outcomes.size > this.limits.perClient) {
      const lowest = lowestAboveFloor(c, c.outcomes);
      if (lowest === Number.POSITIVE_INFINITY) break; // all kept: at most MAX_KEPT
      c.outcomes.delete(lowest);
      c.floor = Math.max(c.floor, lowest);
    }
  }

  /**
   * Fences `id` up to issue `upTo`: its copies of those issues applied from here on are refused.
   * A no-op for `upTo` 0, once the request has an outcome (it ran: nothing to fence) or its
   * client settled it.
   */
  fence(id: string, upTo: number): void {
    const p = parseRequestId(id);
    if (!p || upTo < 1) return;
    const c = this.session(p.clientId);
    this.fenceIn(c, p.counter, upTo);
    this.touched(p.clientId, c);
  }

  private fenceIn(c: Session, counter: number, upTo: number): void {
    if (settledIn(c, counter) || c.outcomes.has(counter)) return;
    if (upTo <= (c.fences.get(counter) ?? 0)) return;
    c.fences.set(counter, upTo);
    // Past the cap the lowest fence goes, and the floor rises to it, as for outcomes: a request
    // whose fence is forgotten must answer `expired`, never run (its client was told not-found).
    while (c.fences.size > this.limits.perClient) {
      const lowest = lowestAboveFloor(c, c.fences);
      if (lowest === Number.POSITIVE_INFINITY) break; // all kept: at most MAX_KEPT
      c.fences.delete(lowest);
      c.floor = Math.max(c.floor, lowest);
    }
  }

  /** The highest issue of `id` whose copies are refused; 0 if none. */
  fenced(id: string): number {
    const p = parseRequestId(id);
    return (p && this.clients.get(p.clientId)?.fences.get(p.counter)) ?? 0;
  }

  /** Whether a copy of `id` of issue `issue` is refused: a fence names that issue or a later one. */
  refuses(id: string, issue: number): boolean {
    const upTo = this.fenced(id);
    return upTo > 0 && issue <= upTo;
  }

  /** Number of outcomes held (all clients). */
  get size(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.outcomes.size;
    return n;
  }

  /** Number of client sessions held. */
  get sessions(): number {
    return this.clients.size;
  }

  /** The client's session, made most recently active (Map order: least recently active first). */
  private session(clientId: string): Session {
    let c = this.clients.get(clientId);
    // Already the most recently active (one busy client, every request): the order stands.
    if (c && clientId === this.newest) {
      c.lastSeen = this.progress;
      return c;
    }
    if (c) this.clients.delete(clientId);
    c ??= {
      floor: 0,
      kept: undefined,
      lastSeen: this.progress,
      outcomes: new Map(),
      sorted: true,
      top: 0,
      fences: new Map(),
      requested: false,
      host: undefined,
      id: clientId,
      hostList: undefined,
      hostPrev: undefined,
      hostNext: undefined,
    };
    c.lastSeen = this.progress;
    this.clients.set(clientId, c);
    this.newest = clientId;
    return c;
  }

  /**
   * After a session was refreshed and changed: files it as queried or not, then ends the least
   * recently active sessions past the bounds, never this one (the most recently active).
   */
  private touched(clientId: string, c: Session): void {
    const [mine, other] = isQueried(c) ? [this.queried, this.own] : [this.own, this.queried];
    // The session touched last and still of its kind is already last in its map (one busy
    // client, every request): nothing moves and no bound is passed.
    if (clientId === this.lastTouched && mine.has(clientId)) return;
    this.lastTouched = clientId;
    other.delete(clientId);
    mine.delete(clientId);
    mine.set(clientId, c);
    // Only a request gives a session its host, and makes it a client's: never a queried one.
    if (c.host !== undefined) this.underHost(c);
    this.trim(this.queried, Math.max(1, Math.floor(this.limits.maxClients / 2)), clientId);
    this.trim(this.own, this.limits.maxClients, clientId);
  }

  /**
   * Files `c` last among its host's sessions, then ends that host's least recently active past
   * `perHost`, never `c`: one host's invented clients end only its own sessions (FINDINGS 226).
   */
  private underHost(c: Session): void {
    let list = c.hostList;
    if (list === undefined) {
      list = this.hosts.get(c.host!);
      if (list === undefined) {
        list = { first: undefined, last: undefined, size: 0 };
        this.hosts.set(c.host!, list);
      }
      c.hostList = list;
    } else if (list.last === c) return;
    else unlink(list, c);
    append(list, c);
    while (list.size > this.limits.perHost && list.first !== c) this.end(list.first!.id);
  }

  /** Ends the least recently active sessions of `kind` past `cap`, never `keep`. */
  private trim(kind: Map<string, Session>, cap: number, keep: string): void {
    while (kind.size > cap) {
      const victim = kind.keys().next().value as string;
      if (victim === keep) return;
      this.end(victim);
    }
  }

  /** Ends vanished clients' sessions; runs every `sessionRequests / 8` requests of progress. */
  private sweep(): void {
    const interval = Math.max(1, Math.floor(this.limits.sessionRequests / 8));
    if (this.progress - this.lastSweep < interval) return;
    this.lastSweep = this.progress;
    // Least recently active first: stop at the first session still alive.
    for (const [id, c] of this.clients) {
      if (this.progress - c.lastSeen <= this.limits.sessionRequests) break;
      this.end(id);
    }
  }

  private end(clientId: string): void {
    const c = this.clients.get(clientId);
    if (c?.hostList) {
      unlink(c.hostList, c);
      if (c.hostList.size === 0) this.hosts.delete(c.host!);
      c.hostList = undefined;
    }
    this.clients.delete(clientId);
    this.queried.delete(clientId);
    this.own.delete(clientId);
  }

  /**
   * The table as msgpack-friendly arrays. `unapplied`: requests the table counted that the
   * snapshot's backlog carries again (one still running); its progress is taken back by as many,
   * so that applying them there counts them once. Nothing else of applying a request changes
   * the table in a way a second apply would not repeat (session refresh, the watermark's pruning).
   */
  snapshot(unapplied = 0): OutcomeTableState {
    // Each host once, its sessions by position; appended only when some session has one.
    const hosts = new Map<string, number[]>();
    let at = 0;
    for (const c of this.clients.values()) {
      if (c.host !== undefined) {
        const positions = hosts.get(c.host);
        if (positions) positions.push(at);
        else hosts.set(c.host, [at]);
      }
      at++;
    }
    const state: OutcomeTableState = [
      this.progress - unapplied,
      this.lastSweep,
      [...this.clients].map(([id, c]) => {
        const entry: OutcomeTableState[2][number] = [
          id,
          c.floor,
          c.lastSeen,
          [...c.outcomes].map(([n, o]) => [
            n,
            o.status === 'committed' ? [1, o.viewId, o.at, resultToTuple(o.result)] : [0, o.viewId, o.at],
          ]),
          [...c.fences],
        ];
        // Appended when present: a session with no kept counters has the earlier five fields,
        // and one whose fields tell whether a request of it was applied has no sixth.
        const told = c.requested === requestedByLook(c);
        if (c.kept || !told) entry.push(c.kept ? [...c.kept] : []);
        if (!told) entry.push(c.requested ? 1 : 0);
        return entry;
      }),
    ];
    if (hosts.size > 0) state.push([...hosts]);
    return state;
  }

  /**
   * Installs a snapshot from {@link snapshot}. Checks its shape as strictly as a packet: a
   * malformed one throws a `DecodeError` and leaves the table as it was.
   */
  restore(state: unknown): void {
    const count = (v: unknown, what: string) => {
      if (!Number.isSafeInteger(v) || (v as number) < 0) bad(`outcome table: ${what} is not a count`);
      return v as number;
    };
    const list = (v: unknown, what: string) => {
      if (!Array.isArray(v)) bad(`outcome table: ${what} is not a list`);
      return v as unknown[];
    };
    const [progress, lastSweep, clients, hosts] = list(state, 'state') as unknown[];
    const next = new Map<string, Session>();
    const sessions: Session[] = [];
    for (const entry of list(clients, 'clients')) {
      const fields = list(entry, 'client');
      if (fields.length < 5 || fields.length > 7) bad('outcome table: a client has 5 to 7 fields');
      const [id, floor, lastSeen, outcomes, fences, kept, requested] = fields;
      if (requested !== undefined && requested !== 0 && requested !== 1)
        bad('outcome table: requested is 0 or 1');
      if (typeof id !== 'string' || !parseRequestId(`${id}:1`) || next.has(id))
        bad('outcome table: client id invalid or repeated');
      const m = new Map<number, RecordedOutcome>();
      for (const pair of list(outcomes, 'outcomes')) {
        const [n, o] = list(pair, 'outcome') as [unknown, unknown];
        const [committed, viewId, at, r] = list(o, 'outcome') as unknown[];
        const base = { viewId: count(viewId, 'view id'), at: count(at, 'order time') };
        if (committed === 1)
          m.set(count(n, 'counter'), { status: 'committed', ...base, result: resultFromTuple(r) });
        else if (committed === 0) m.set(count(n, 'counter'), { status: 'interrupted', ...base });
        else bad('outcome table: bad outcome kind');
      }
      const f = new Map<number, number>();
      for (const pair of list(fences, 'fences')) {
        const [n, upTo] = list(pair, 'fence') as [unknown, unknown];
        // An earlier release fenced members: such a fence refuses no issue, so it is not kept.
        if (Array.isArray(upTo)) strings(upTo, 'fenced members', 64);
        else f.set(count(n, 'counter'), count(upTo, 'fenced issue'));
      }
      const k = kept === undefined ? [] : list(kept, 'kept counters');
      if (k.length > MAX_KEPT) bad(`outcome table: more than ${MAX_KEPT} kept counters`);
      const session: Session = {
        floor: count(floor, 'floor'),
        kept: k.length > 0 ? new Set(k.map((n) => count(n, 'kept counter'))) : undefined,
        lastSeen: count(lastSeen, 'last seen'),
        outcomes: m,
        ...order(m),
        fences: f,
        requested: false,
        host: undefined,
        id: id as string,
        hostList: undefined,
        hostPrev: undefined,
        hostNext: undefined,
      };
      session.requested = requested === undefined ? requestedByLook(session) : requested === 1;
      next.set(id as string, session);
      sessions.push(session);
    }
    // Absent from an earlier release's snapshot: no session has a host until its next request.
    const byHost = new Map<string, HostSessions>();
    for (const pair of hosts === undefined ? [] : list(hosts, 'hosts')) {
      const [h, positions] = list(pair, 'host') as [unknown, unknown];
      // A request's client address is at most 256 characters; its host's key a few more.
      if (typeof h !== 'string' || h.length === 0 || h.length > 512 || byHost.has(h))
        bad('outcome table: host invalid or repeated');
      const host = h as string;
      let last = -1;
      for (const n of list(positions, 'host sessions')) {
        const i = count(n, 'session position');
        const s = sessions[i];
        if (i <= last || s === undefined || s.host !== undefined)
          bad('outcome table: host sessions out of order or taken');
        if (isQueried(s!)) bad('outcome table: a queried session has a host');
        s!.host = host;
        last = i;
      }
      if (last < 0) bad('outcome table: a host with no session');
      byHost.set(host, { first: undefined, last: undefined, size: 0 });
    }
    this.progress = count(progress, 'progress');
    this.lastSweep = count(lastSweep, 'last sweep');
    this.clients = next;
    this.queried = new Map([...next].filter(([, c]) => isQueried(c)));
    this.own = new Map([...next].filter(([, c]) => !isQueried(c)));
    for (const c of this.own.values())
      if (c.host !== undefined) {
        c.hostList = byHost.get(c.host)!;
        append(c.hostList, c);
      }
    this.hosts = byHost;
    this.newest = undefined;
    this.lastTouched = undefined;
  }
}

function unlink(list: HostSessions, s: Session): void {
  if (s.hostPrev) s.hostPrev.hostNext = s.hostNext;
  else list.first = s.hostNext;
  if (s.hostNext) s.hostNext.hostPrev = s.hostPrev;
  else list.last = s.hostPrev;
  s.hostPrev = undefined;
  s.hostNext = undefined;
  list.size--;
}

function append(list: HostSessions, s: Session): void {
  s.hostPrev = list.last;
  s.hostNext = undefined;
  if (list.last) list.last.hostNext = s;
  else list.first = s;
  list.last = s;
  list.size++;
}

/** Whom a client address stands for in the `perHost` bound (`hostShareKey` of its host). */
function hostOf(client: string): string {
  return hostShareKey(parseAddress(client)?.host ?? client);
}

/**
 * A session an outcome query made: no request of its client applied and no outcome held (fences
 * only). Bounded apart from the others, so a flood of queries ends only sessions of its kind.
 */
function isQueried(c: Session): boolean {
  return !c.requested && c.outcomes.size === 0;
}

/**
 * Whether a request of the session's client was applied, as its other fields suggest: not when
 * it holds fences and nothing a request leaves (a floor, an outcome, kept counters). A snapshot
 * carries the mark only where this guess is wrong (earlier releases read five or six fields),
 * and a snapshot of an earlier release is read by it.
 */
function requestedByLook(c: Session): boolean {
  return !(c.fences.size > 0 && c.floor === 0 && c.outcomes.size === 0 && c.kept === undefined);
}

/** Whether the client settled `counter`: at or below its floor, and not kept there. */
function settledIn(c: Session, counter: number): boolean {
  return counter <= c.floor && c.kept?.has(counter) !== true;
}

/**
 * Applies a watermark and its `keep` list. Kept counters it covers and no longer lists were
 * settled since; listed counters above the floor stay when it passes them. A watermark at or
 * below the floor (a request its client sent before a later one the order put first) only ends
 * kept counters, never keeps one again: settling is for good at the client, so a counter it
 * covers and omits is settled, and one it lists but the floor already passed unkept is gone.
 */
function settle(c: Session, settled: number, keep: readonly number[] | undefined): void {
  if (c.kept) {
    for (const n of c.kept)
      if (n <= settled && keep?.includes(n) !== true) {
        c.kept.delete(n);
        c.outcomes.delete(n);
        c.fences.delete(n);
      }
    if (c.kept.size === 0) c.kept = undefined;
  }
  if (settled <= c.floor) return;
  const listed = keep?.filter((n) => n > c.floor && n <= settled);
  if (listed?.length) c.kept = new Set([...(c.kept ?? []), ...listed]);
  c.floor = settled;
  prune(c, settled);
  for (const n of c.fences.keys()) if (n <= settled && c.kept?.has(n) !== true) c.fences.delete(n);
}

/** Drops `c`'s outcomes at or below `settled` but its kept ones. */
function prune(c: Session, settled: number): void {
  const kept = c.kept;
  if (c.sorted) {
    for (const n of c.outcomes.keys()) {
      if (n > settled) break;
      if (kept?.has(n) !== true) c.outcomes.delete(n);
    }
  } else for (const n of c.outcomes.keys()) if (n <= settled && kept?.has(n) !== true) c.outcomes.delete(n);
  if (c.outcomes.size === 0) {
    c.sorted = true;
    c.top = 0;
  }
}

/** The lowest counter of `m` not kept below the floor (the `perClient` cap's victim); ∞ if none. */
function lowestAboveFloor(c: Session, m: Map<number, unknown>): number {
  let lowest = Number.POSITIVE_INFINITY;
  if (c.sorted && m === c.outcomes && !c.kept) return m.keys().next().value as number;
  for (const n of m.keys()) if (n < lowest && c.kept?.has(n) !== true) lowest = n;
  return lowest;
}

/** `sorted` and `top` of a restored outcome map (its Map order is the snapshot's). */
function order(m: Map<number, RecordedOutcome>): { sorted: boolean; top: number } {
  let top = 0;
  let sorted = true;
  for (const n of m.keys()) {
    if (n > top) top = n;
    else sorted = false;
  }
  return { sorted, top };
}
