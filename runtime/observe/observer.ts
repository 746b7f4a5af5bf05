/**
 * The observer: one object given as `observe` to `joinReplica`/`joinGroup`/`connect` that turns
 * the runtime's events into Prometheus metrics, log lines, per-request traces and (optionally)
 * OpenTelemetry spans. One observer per member (or client): its metrics, traces and log fields
 * are that member's.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { steadyNow } from '../clock.js';
import { TroupeError } from '../errors.js';
import type { AppEvent } from '../group/core.js';
import type { Group } from '../group/group.js';
import type { GroupHandle, ViewChange } from '../group/types.js';
import type { TroupeClient } from '../rpc/client.js';
import { decodeValue, encodeValue } from '../rpc/codec.js';
import { getServiceMeta } from '../rpc/decorators.js';
import type { Replica, RunningApply } from '../rpc/replica.js';
import { parseRequestId, type Result } from '../rpc/result.js';
import { CastTimes } from './cast-times.js';
import { DivergenceMonitor, type DivergenceOptions, type DivergenceRecord } from './divergence.js';
import {
  type ObserveSink,
  type RequestStep,
  type StepTaker,
  TAKES_STEPS,
  type TroupeEvent,
} from './events.js';
import type { HistogramSeries } from './histogram.js';
import { type Logger, silentLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { outcomeFlags, type RequestTrace, STEP, TraceRing } from './traces.js';

/**
 * Options of {@link Observer}. Every field is optional: `new Observer()` logs nothing, keeps
 * metrics in a registry of its own, traces the last requests and checks replicas for divergence.
 */
export interface ObserverOptions {
  /** Where log lines go (a pino logger works). Default: none (silent). */
  logger?: Logger;
  /** The prom-client registry to register in. Default: a new one, `observer.registry`. */
  registry?: Registry;
  /** Also export prom-client's process metrics (CPU, RSS, event loop lag) as `troupe_process_…`. Default false. */
  processMetrics?: boolean;
  /**
   * Requests whose trace this member keeps (a ring). Default 1024; 0 keeps none. The latency
   * histograms time requests through the same ring, so one smaller than the requests in flight
   * leaves some untimed; with 0 a ring of {@link TIMING_SLOTS} times them and answers nothing.
   */
  traces?: number;
  /**
   * OpenTelemetry spans for client calls, ordering at the contact and applying at each replica,
   * each with the attribute `troupe.request_id`: a `Tracer`, or `true` for the global tracer
   * provider's `troupe` tracer (`@opentelemetry/api`; the application brings the SDK). Default: none.
   */
  tracer?: Tracer | boolean;
  /** Refused packets are logged at most once per this many ms, as counts. Default 10 000. */
  refusedLogMs?: number;
  /** A request slower than this (ms, contact receipt to reply) is kept among the slow requests. Default 100. */
  slowMs?: number;
  /**
   * An async method still running after this many ms is logged (a warning naming the request, the
   * method and the queue behind it), and again each time as long again passes. Default 10 000;
   * 0 turns the warning off.
   */
  stuckApplyMs?: number;
  /** Replica divergence detection (docs/observability.md). Default: a check every 1000 requests, reported. */
  divergence?: DivergenceOptions;
}

/** A recent view change at this member, with its cause. */
export interface ViewRecord {
  at: number;
  viewId: number;
  members: string[];
  joined: string[];
  left: string[];
  failed: string[];
  /** The flush that led to it, when this member saw it start. */
  flushMs?: number;
}

/** What `status` answers: this member's picture of the group. */
export interface MemberStatus {
  member: string | undefined;
  group: string | undefined;
  address: string | undefined;
  view: { id: number; members: string[]; addresses: string[] } | undefined;
  coordinator: string | undefined;
  /**
   * The member that stamps the total order, on a stack with the quorum sequencer (`seq`, the
   * default): the view's rank 0. Undefined on the token stack, where the token keeps moving.
   */
  sequencer: string | undefined;
  /** Each handler lock the service declares, with the member holding it now (in the applied order). */
  locks: { lock: string; holder: string | undefined }[];
  views: ViewRecord[];
  suspicions: { at: number; member: string; silentMs: number }[];
  slow: RequestTrace[];
  divergences: DivergenceRecord[];
  /** The async method running in this replica's apply queue, if any (see `Replica.applying`). */
  applying: RunningApply | undefined;
  rssBytes: number;
  at: number;
  stats: Record<string, Record<string, number>>;
}

const REFUSALS: Record<string, readonly string[]> = {
  stack: ['refused'],
  group: ['refused'],
  com: ['refused', 'foreignGroup', 'unauthenticated', 'replayed', 'staleAddress', 'stale', 'strangerLimited'],
  gms: ['refused'],
  replica: [
    'malformed',
    'foreign',
    'unauthenticated',
    'replayed',
    'misdirected',
    'badGroupMessages',
    'unordered',
    'impersonated',
  ],
  client: ['malformed', 'foreign', 'unauthenticated', 'replayed', 'untrusted'],
};

const HISTORY = 50;
/** What a keyless `status` shows for a client's address. */
const HIDDEN_CLIENT = '(client)';
/** Slow requests kept for `status`. */
const SLOW = 20;
/** Receipt-to-reply times kept for the live page's percentiles (a few seconds' worth). */
const LATENCIES = 4096;
const MAX_OPEN_SPANS = 4096;
/**
 * The trace ring's size with `traces: 0`: no trace is answered, but the order-latency and
 * apply-duration histograms and the page's latencies read a request's receipt and start from the
 * ring (with no ring they were never observed).
 */
export const TIMING_SLOTS = 256;
/** A flush that has held casts this long (ms) is reported, and again every as long. */
const FLUSH_SLOW_MS = 2_000;

/** gms's counters of flushes this member started as coordinator, and of those outbid. */
function flushCounters(group: Group): { flushes: number; outbid: number } | undefined {
  const gms = group.stats?.().gms;
  return gms ? { flushes: gms.flushes ?? 0, outbid: gms.flushOutbid ?? 0 } : undefined;
}

/** At most one `member lagging` line per member this often (ms); removals are always logged. */
const LAG_LOG_MS = 10_000;

/** Wall-clock ms with sub-ms precision, comparable between processes of one host. */
const wallNow = steadyNow;

/**
 * Metrics, logs, traces and spans of one member or client.
 *
 * @example
 * ```ts
 * const observer = new Observer({ logger: createLogger({ level: 'info' }) });
 * const { replica, group } = await joinReplica(new Bank(), 'bank', { seeds, validate, observe: observer });
 * const server = await metricsServer({ port: 9464, observer });   // GET /metrics
 * observer.trace('client7:42');                                   // where that request went here
 * ```
 */
export class Observer implements ObserveSink {
  readonly metrics: Metrics;
  readonly logger: Logger;
  private readonly ring: TraceRing;
  /** Traces are answered (`traces` > 0); else the ring only times requests for the metrics. */
  private readonly answersTraces: boolean;
  /** Keys the tags that stand for client ids in a keyless `status` (see {@link tagged}). */
  private tagSecret: Uint8Array | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly slowMs: number;
  private readonly refusedLogMs: number;
  private group: Group | undefined;
  private replica: Replica | undefined;
  /** The group the replica serves: the `Group`, or another driver's handle (the simulator's). */
  private handle: GroupHandle | undefined;
  /** A view of the replica's group that admitted members: a joiner's copied state is checked at
   * once (FINDINGS 216; not at a founding, whose members' states were agreed on). */
  private readonly onHandleView = (v: ViewChange): void => {
    if (v.previousId !== undefined && v.joined.length > 0) this.divergence.onJoined();
  };
  private client: TroupeClient | undefined;
  /** Own total casts not yet delivered, with when they were cast (the payload comes back). */
  private readonly castAt = new CastTimes();
  private blockedAt: number | undefined;
  /** gms's flush counters when the current flush began, and the watch that reports a long one. */
  private flushFrom: { flushes: number; outbid: number } | undefined;
  private flushWatch: ReturnType<typeof setInterval> | undefined;
  private readonly stuckApplyMs: number;
  /** Looks at the replica's running async method (see {@link watchApply}). */
  private applyWatch: ReturnType<typeof setInterval> | undefined;
  /** When a lag report of each member was last logged (see LAG_LOG_MS). */
  private readonly lagLoggedAt = new Map<string, number>();
  private readonly views: ViewRecord[] = [];
  private readonly suspicions: MemberStatus['suspicions'] = [];
  private readonly divergence: DivergenceMonitor;
  private readonly orderSpans = new Map<string, Span>();
  private readonly applySpans = new Map<string, Span>();
  private refusedTimer: NodeJS.Timeout | undefined;
  private refusedSeen = new Map<string, number>();
  private readonly extraAnswers = new Map<string, (args: unknown[]) => unknown>();
  private readonly changeListeners = new Set<() => void>();
  /**
   * Recent requests' receipt-to-reply times at this contact, a ring of LATENCIES: wall ms of the
   * reply and duration ms. Typed arrays rather than a tuple per request: a busy contact answers
   * thousands a second, and an object per answer kept for seconds is garbage-collector work.
   */
  private readonly latencyAt = new Float64Array(LATENCIES);
  private readonly latencyMs = new Float64Array(LATENCIES);
  private latencyCount = 0;
  /** `applyDuration`'s child per method: the label lookup (hashing the labels) once per method. */
  private readonly applyByMethod = new Map<string, HistogramSeries>();
  /** `callDuration`'s child per method, mode and outcome. */
  private readonly callByLabels = new Map<string, HistogramSeries>();
  /** The last client call's method, its name and its call-duration series (see {@link callHistogram}). */
  private lastCall: {
    service: string;
    method: string;
    name: string;
    mode: string;
    outcome: string;
    series: HistogramSeries | undefined;
  } = { service: '', method: '', name: '', mode: '', outcome: '', series: undefined };
  /** `applyByMethod`'s last answer: a replica applies few methods, mostly the same one in a row. */
  private lastApplyMethod: string | undefined;
  private lastApplySeries: HistogramSeries | undefined;
  /**
   * The time of this turn's request steps (-1: none read yet): see {@link turnNow}. Cleared by
   * {@link endTurn}, queued as a microtask when the turn's first clock read is made.
   */
  private turnAt = -1;
  private readonly endTurn = (): void => {
    this.turnAt = -1;
  };
  /** Request steps as arguments, for the sink (see {@link onStep}); unset in a subclass that overrides `event`. */
  readonly [TAKES_STEPS]?: StepTaker;

  constructor(options: ObserverOptions = {}) {
    this.metrics = new Metrics(options.registry, { processMetrics: options.processMetrics ?? false });
    this.logger = options.logger ?? silentLogger;
    const traces = Math.floor(options.traces ?? 1024);
    if (!(traces >= 0 && Number.isFinite(traces)))
      throw new TroupeError('OBSERVE_BAD_OPTION', 'traces must be a number of requests (0: none)');
    this.answersTraces = traces > 0;
    this.ring = new TraceRing(traces > 0 ? traces : TIMING_SLOTS, SLOW);
    this.tracer =
      options.tracer === true
        ? trace.getTracer('troupe')
        : options.tracer === false
          ? undefined
          : options.tracer;
    this.slowMs = options.slowMs ?? 100;
    this.stuckApplyMs = options.stuckApplyMs ?? 10_000;
    if (!(this.stuckApplyMs >= 0))
      throw new TroupeError('OBSERVE_BAD_OPTION', 'stuckApplyMs must be a number of ms (0: off)');
    this.divergence = new DivergenceMonitor(
      () => this.group ?? this.handle,
      this.logger,
      this.metrics,
      options.divergence,
      () => this.changed(),
    );
    this.refusedLogMs = options.refusedLogMs ?? 10_000;
    // A subclass that overrides `event` sees every request step there, as event objects.
    if (this.event === Observer.prototype.event)
      (this as { [TAKES_STEPS]?: StepTaker })[TAKES_STEPS] = (
        step,
        id,
        viewId,
        gseq,
        peer,
        method,
        status,
        ok,
      ) => this.onStep(step, id, viewId, gseq, peer, method, status, ok);
    if (!(this.refusedLogMs > 0))
      throw new TroupeError('OBSERVE_BAD_OPTION', 'refusedLogMs must be a positive number of ms');
  }

  /** The prom-client registry holding this observer's metrics. */
  get registry(): Registry {
    return this.metrics.registry;
  }

  /** What this member recorded of `requestId`, or undefined (never seen, or out of the ring). */
  trace(requestId: string): RequestTrace | undefined {
    return this.answersTraces ? this.ring.get(requestId) : undefined;
  }

  /** This member's view of the group, for `troupe status` and the group page. */
  status(): MemberStatus {
    const g = this.group;
    const view = (g ?? this.handle)?.view;
    let stats: Record<string, Record<string, number>> = {};
    try {
      stats = {
        ...(g ? g.stats() : {}),
        ...(this.replica ? { replica: { ...this.replica.stats() } } : {}),
        ...(this.client ? { client: { ...this.client.stats() } } : {}),
      };
    } catch {
      // A closed member reports no stats.
    }
    return {
      member: g?.self ?? this.handle?.self ?? this.client?.clientId,
      group: g?.groupName ?? this.handle?.groupName,
      address: g?.address ?? this.client?.address,
      view: view && { id: view.id, members: [...view.members], addresses: [...view.addresses] },
      coordinator: view?.members[0],
      sequencer: 'seq' in stats ? view?.members[0] : undefined,
      locks: this.lockHolders(),
      views: [...this.views],
      suspicions: [...this.suspicions],
      slow: this.answersTraces ? this.ring.slow() : [],
      divergences: [...this.divergence.records],
      applying: this.applyingNow(),
      rssBytes: process.memoryUsage.rss(),
      at: Date.now(),
      stats,
    };
  }

  private applyingNow(): RunningApply | undefined {
    try {
      return this.replica?.applying();
    } catch {
      return undefined;
    }
  }

  private lockHolders(): MemberStatus['locks'] {
    const r = this.replica;
    if (!r) return [];
    const ctor = (r.instance as object).constructor as new () => unknown;
    const names = new Set<string>();
    for (const m of getServiceMeta(ctor)?.methods ?? []) if (m.lock !== undefined) names.add(m.lock);
    return [...names].sort().map((lock) => ({ lock, holder: r.holder(lock) }));
  }

  /** Divergences this replica saw (the same list at every replica that saw the checks). */
  get divergences(): readonly DivergenceRecord[] {
    return this.divergence.records;
  }

  /**
   * Starts a divergence check now: a checkpoint is cast into the order, every replica digests
   * its state there and the verdict comes as `divergences`, metrics and log lines. Returns the
   * checkpoint id, or undefined if this member has no view.
   */
  checkDivergence(): string | undefined {
    return this.divergence.start();
  }

  /** Calls `fn` after a view change, suspicion, partition or divergence here; returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** Requests whose method ran here (the replica's `applied` stat), or undefined without a replica. */
  appliedCount(): number | undefined {
    try {
      return this.replica?.stats().applied;
    } catch {
      return undefined;
    }
  }

  /** Receipt-to-reply times (ms) of the requests this member answered as contact since `since` (wall ms). */
  latenciesSince(since: number): number[] {
    const out: number[] = [];
    const oldest = Math.max(0, this.latencyCount - LATENCIES);
    for (let n = this.latencyCount - 1; n >= oldest; n--) {
      const i = n % LATENCIES;
      if (this.latencyAt[i]! < since) break;
      out.push(this.latencyMs[i]!);
    }
    return out;
  }

  private changed(): void {
    for (const fn of this.changeListeners) {
      try {
        fn();
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /** Adds a query answered to `troupe` tools (e.g. the divergence check's `digest`). */
  answerWith(method: string, fn: (args: unknown[]) => unknown): void {
    this.extraAnswers.set(method, fn);
  }

  /** Stops the refused-packet timer and ends open spans. */
  close(): void {
    this.handle?.off('view', this.onHandleView);
    clearInterval(this.refusedTimer);
    this.refusedTimer = undefined;
    clearInterval(this.applyWatch);
    this.applyWatch = undefined;
    this.endFlushWatch();
    for (const s of [...this.orderSpans.values(), ...this.applySpans.values()]) s.end();
    this.orderSpans.clear();
    this.applySpans.clear();
  }

  // ---------------------------------------------------------------------------------------
  // The sink.

  event(e: TroupeEvent): void {
    // Request steps first: several per call at every member, every other event far rarer.
    if (e.type === 'request') {
      this.onStep(e.step, e.id, e.viewId, e.gseq, e.peer, e.method, e.status, e.ok);
      return;
    }
    switch (e.type) {
      case 'member':
        this.onMember(e.group);
        return;
      case 'cast':
        if (e.qos.order === 'total') this.castAt.cast(e.payload, performance.now());
        return;
      case 'app':
        this.onApp(e.group, e.event);
        return;
      case 'replica':
        this.replica = e.replica;
        this.handle?.off('view', this.onHandleView);
        this.handle = e.group;
        e.group.on('view', this.onHandleView);
        this.metrics.watchStats('replica', () => ({ replica: { ...e.replica.stats() } }));
        this.metrics.gauge('troupe_replica_outcomes', 'Outcomes held in the outcome table.', () =>
          this.replica ? this.replica.outcomeCount : undefined,
        );
        this.startRefusedLog();
        this.watchApply();
        return;
      case 'system':
        this.divergence.onSystem(e);
        return;
      case 'client':
        this.client = e.client;
        this.metrics.watchStats('client', () => ({ client: { ...e.client.stats() } }));
        this.startRefusedLog();
        return;
      case 'call':
        this.onCall(e);
        return;
      case 'divergent-replies':
        this.metrics.divergentReplies.inc();
        this.logger.error(
          {
            client: this.client?.clientId,
            requestId: e.id,
            method: `${e.service}.${e.method}`,
            replies: e.entries.map((r) =>
              r.status === 'ok'
                ? { member: r.member, value: r.value }
                : r.status === 'error'
                  ? { member: r.member, error: r.error.code }
                  : { member: r.member, status: r.status },
            ),
          },
          'replica divergence: members answered an ordered call differently',
        );
        return;
      case 'failover':
        this.logger.warn(
          { client: e.clientId, contact: e.contact, requests: e.requests, reissue: e.reissue },
          e.reissue ? 'contact failed: resending pending calls to the next contact' : 'contact failed',
        );
        return;
    }
  }

  /**
   * Answers an observability query a client sent a replica. `keyless`: the group has no key, so
   * the asker is anyone who can reach the port: the answer names no client. A request id is all
   * it takes to act in a client's name (nothing else ties a request to its client), and a
   * keyless `status` listed them (slow requests with their clients' addresses, the request
   * applying, the divergence alarms' last requests): one call in a victim's client id with a
   * settled watermark far ahead made every later call of that client `OUTCOME_EXPIRED`, unrun
   * (test/sim/FINDINGS.md item 225). Each id's client part is then replaced by a tag of it
   * (an HMAC under a secret of this observer: one client's requests still share a tag), and
   * client addresses by `(client)`. `trace` names the id it was asked about, so it is answered
   * whole.
   */
  answer(method: string, args: Uint8Array, keyless = false): Result {
    try {
      const decoded = decodeValue(args);
      const list = Array.isArray(decoded) ? decoded : [];
      let value: unknown;
      if (method === 'trace') {
        if (typeof list[0] !== 'string')
          throw new TroupeError('OBSERVE_BAD_QUERY', 'trace needs a request id');
        value = this.trace(list[0]) ?? null;
      } else if (method === 'status') value = keyless ? this.unnamed(this.status()) : this.status();
      // Spaced: a check costs every replica a digest of its whole state, and anyone who can
      // send the group a client packet can ask (divergence.ts, QUERY_CHECK_MIN_MS).
      else if (method === 'check') value = this.divergence.startQueried() ?? null;
      else {
        const extra = this.extraAnswers.get(method);
        if (!extra) throw new TroupeError('OBSERVE_UNKNOWN_QUERY', `no observability query '${method}'`);
        value = extra(list);
      }
      return { ok: true, value: encodeValue(value) };
    } catch (e) {
      const code = e instanceof TroupeError ? e.code : 'OBSERVE_FAILED';
      return { ok: false, error: { name: 'TroupeError', code, message: String((e as Error)?.message ?? e) } };
    }
  }

  /** `status` for a keyless asker: no client's request id or address (see {@link answer}). */
  private unnamed(s: MemberStatus): MemberStatus {
    const id = (r: string) => this.tagged(r);
    return {
      ...s,
      slow: s.slow.map((t) => ({
        ...t,
        requestId: id(t.requestId),
        steps: t.steps.map((step) =>
          step.peer !== undefined && (step.step === 'received' || step.step === 'replied')
            ? { ...step, peer: HIDDEN_CLIENT }
            : step,
        ),
      })),
      divergences: s.divergences.map((d) => ({
        ...d,
        lastRequests: Object.fromEntries(
          Object.entries(d.lastRequests).map(([m, r]) => [m, r === undefined ? r : id(r)]),
        ),
      })),
      applying: s.applying && { ...s.applying, requestId: id(s.applying.requestId) },
    };
  }

  /** `clientId:counter` with the client id replaced by `~` and 8 hex digits of a keyed hash. */
  private tagged(requestId: string): string {
    const p = parseRequestId(requestId);
    if (!p) return HIDDEN_CLIENT;
    this.tagSecret ??= randomBytes(16);
    return `~${createHmac('sha256', this.tagSecret).update(p.clientId).digest('hex').slice(0, 8)}:${p.counter}`;
  }

  // ---------------------------------------------------------------------------------------
  // Group events.

  private fields(): { member: string | undefined; view: number | undefined } {
    return { member: this.group?.self, view: this.group?.view?.id };
  }

  private onMember(group: Group): void {
    this.group = group;
    this.metrics.registry.setDefaultLabels({ group: group.groupName });
    this.metrics.watchStats('group', () => group.stats());
    this.metrics.gauge(
      'troupe_group_view_members',
      'Members of the installed view.',
      () => this.group?.view?.members.length,
    );
    this.metrics.gauge('troupe_group_coordinator', '1 when this member coordinates the view (rank 0).', () =>
      this.group?.view ? Number(this.group.view.members[0] === this.group.self) : undefined,
    );
    this.startRefusedLog();
  }

  private onApp(group: Group, ev: AppEvent): void {
    switch (ev.type) {
      case 'deliver': {
        const d = ev.delivery;
        if (d.gseq === undefined || d.sender !== group.self) return;
        const now = performance.now();
        const at = this.castAt.delivered(d.payload, now);
        if (at === undefined) return;
        this.metrics.orderLatency.observe((now - at) / 1000);
        return;
      }
      case 'block':
        this.blockedAt = performance.now();
        this.flushFrom = flushCounters(group);
        this.watchFlush(group);
        this.logger.info(this.fields(), 'flush started: casts held until the next view');
        return;
      case 'view': {
        const c = ev.change;
        this.metrics.viewChanges.inc();
        const record: ViewRecord = {
          at: Date.now(),
          viewId: c.view.id,
          members: [...c.view.members],
          joined: c.joined,
          left: c.left,
          failed: c.failed,
        };
        const attempts = this.flushAttempts(group);
        this.endFlushWatch();
        if (this.blockedAt !== undefined) {
          record.flushMs = performance.now() - this.blockedAt;
          this.metrics.flushDuration.observe(record.flushMs / 1000);
          this.blockedAt = undefined;
        }
        push(this.views, record);
        this.logger.info(
          {
            member: group.self,
            view: c.view.id,
            previousView: c.previousId,
            members: record.members,
            joined: c.joined,
            left: c.left,
            failed: c.failed,
            ...(record.flushMs !== undefined ? { flushMs: Math.round(record.flushMs * 10) / 10 } : {}),
            ...attempts,
          },
          'view installed',
        );
        this.changed();
        return;
      }
      case 'suspect':
        push(this.suspicions, {
          at: Date.now(),
          member: ev.suspicion.member,
          silentMs: ev.suspicion.silentMs,
        });
        this.logger.warn(
          { ...this.fields(), suspect: ev.suspicion.member, silentMs: Math.round(ev.suspicion.silentMs) },
          'member suspected',
        );
        this.changed();
        return;
      case 'partitioned':
        this.metrics.partitions.inc();
        this.blockedAt = undefined;
        this.endFlushWatch();
        if (ev.yielded)
          // Not a partition: two groups of the same name existed and this member's lost. Its
          // ordered history since it joined is thrown away; say so loudly.
          this.logger.error(
            {
              member: group.self,
              ours: ev.yielded.ours,
              theirs: ev.yielded.theirs,
              discarded: ev.yielded.discarded,
            },
            `two lineages of the group met; this one yields and rejoins the other, discarding ${ev.yielded.discarded} ordered messages`,
          );
        else
          this.logger.warn(
            {
              member: group.self,
              view: ev.viewId,
              reason: ev.reason,
              ...(ev.rejoinInMs !== undefined ? { rejoinInMs: ev.rejoinInMs } : {}),
            },
            'cut off from the group',
          );
        this.changed();
        return;
      case 'lagging': {
        // The sequencer's report of a member behind its stamps: every removal is logged; a lag
        // that is only reported, once per member per LAG_LOG_MS (it is measured every Ack).
        const l = ev.lagging;
        const now = performance.now();
        if (!l.removing && now - (this.lagLoggedAt.get(l.member) ?? Number.NEGATIVE_INFINITY) < LAG_LOG_MS)
          return;
        if (this.lagLoggedAt.size >= 256) this.lagLoggedAt.clear();
        this.lagLoggedAt.set(l.member, now);
        const fields = {
          member: group.self,
          view: group.view?.id,
          lagging: l.member,
          lagMs: Math.round(l.lagMs),
          lagBytes: l.lagBytes,
        };
        if (l.removing) this.logger.warn(fields, 'member removed: lagging behind the order');
        else this.logger.info(fields, 'member lagging behind the order');
        return;
      }
      case 'ready':
        if (ev.restored) {
          this.metrics.stateTransferDuration.observe(ev.restored.ms / 1000);
          this.metrics.stateTransferBytes.observe(ev.restored.bytes);
          this.logger.info(
            { ...this.fields(), bytes: ev.restored.bytes, ms: Math.round(ev.restored.ms * 10) / 10 },
            'state transfer done',
          );
        } else this.logger.info(this.fields(), 'member ready');
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Requests at a replica.

  /**
   * One request step here (the fields of a {@link RequestEvent}, as arguments: the sink passes
   * them so when no diagnostics channel needs the event object, see `TAKES_STEPS`).
   */
  private onStep(
    step: RequestStep,
    id: string,
    viewId: number | undefined,
    gseq: number | undefined,
    peer: string | undefined,
    method: string | undefined,
    status: 'committed' | 'interrupted' | undefined,
    ok: boolean | undefined,
  ): void {
    const member = this.group?.self ?? '';
    // Applying and outcome bound the method's run: each reads the clock. The other steps take
    // the turn's latest read (see turnNow).
    const at = step === 'applying' || step === 'outcome' ? this.clockNow() : this.turnNow();
    const ring = this.ring;
    // One lookup of the request per event (the ring is most of what an event costs here).
    switch (step) {
      case 'received': {
        const slot = ring.slot(id, member, true, STEP.received);
        // A retransmitted call (the client heard nothing yet) is the same request: one span.
        const first = Number.isNaN(ring.stepAt(slot, STEP.received));
        ring.record(slot, STEP.received, at, Number.NaN, Number.NaN, peer);
        if (this.tracer && first && !this.orderSpans.has(id))
          this.openSpan(this.orderSpans, id, 'troupe.order', SpanKind.SERVER);
        return;
      }
      case 'cast':
        ring.record(ring.slot(id, member, false, STEP.cast), STEP.cast, at);
        return;
      case 'ordered': {
        // Not received here: found again by guess, not by the id index (see TraceRing.slot).
        const slot = ring.slot(id, member, true, STEP.ordered, peer === member);
        ring.record(slot, STEP.ordered, at, viewId, gseq, peer);
        const received = peer === member ? ring.stepAt(slot, STEP.received) : Number.NaN;
        if (!Number.isNaN(received)) this.metrics.requestOrderLatency.observe((at - received) / 1000);
        if (this.tracer) this.endSpan(this.orderSpans, id, { 'troupe.view_id': viewId, 'troupe.gseq': gseq });
        return;
      }
      case 'applying': {
        ring.record(
          ring.slot(id, member, true, STEP.applying, false),
          STEP.applying,
          at,
          Number.NaN,
          Number.NaN,
          method,
        );
        if (this.tracer) {
          const span = this.openSpan(this.applySpans, id, 'troupe.apply', SpanKind.INTERNAL);
          span.setAttribute('rpc.method', method!);
        }
        return;
      }
      case 'outcome': {
        const slot = ring.slot(id, member, true, STEP.outcome, false);
        const applying = ring.stepAt(slot, STEP.applying);
        const ms = at - applying;
        if (!Number.isNaN(applying))
          this.applyHistogram(ring.stepText(slot, STEP.applying) ?? '').observe(ms / 1000);
        ring.record(slot, STEP.outcome, at, viewId, ms, undefined, outcomeFlags(status, ok));
        if (status === 'committed') this.divergence.onApplied(at);
        if (this.tracer)
          this.endSpan(this.applySpans, id, { 'troupe.status': status, 'troupe.ok': ok }, ok === false);
        return;
      }
      case 'replied': {
        const slot = ring.slot(id, member, false, STEP.replied);
        ring.record(slot, STEP.replied, at, Number.NaN, Number.NaN, peer);
        if (this.tracer) this.endSpan(this.orderSpans, id, {});
        const received = ring.stepAt(slot, STEP.received);
        if (Number.isNaN(received)) return;
        const i = this.latencyCount++ % LATENCIES;
        this.latencyAt[i] = at;
        this.latencyMs[i] = at - received;
        if (at - received >= this.slowMs && this.answersTraces) ring.markSlow(slot);
        return;
      }
    }
  }

  /**
   * The clock as of this turn: the latest read this turn (a step's own, or an earlier step's),
   * or a read now when this turn made none. A member handles a datagram in one turn, steps of a
   * whole batch of requests (received, cast, ordered, replied) in a row: each read the clock,
   * about half of an observer's reads under load, ~40 ns each (session 43). A step's time is so
   * at most one turn early: when the member began handling the datagram it came in, or the last
   * method it ran in that turn ended (docs/observability.md, "Per-request traces").
   */
  private turnNow(): number {
    const at = this.turnAt;
    return at >= 0 ? at : this.clockNow();
  }

  /** Reads the clock, and makes the read this turn's time (see {@link turnNow}). */
  private clockNow(): number {
    if (this.turnAt < 0) queueMicrotask(this.endTurn);
    const at = wallNow();
    this.turnAt = at;
    return at;
  }

  // ---------------------------------------------------------------------------------------
  // Client calls.

  private onCall(e: Extract<TroupeEvent, { type: 'call' }>): void {
    // One clock read at the start and one at the end serve the trace and the histogram.
    const start = this.clockNow();
    const who = this.client?.clientId ?? '';
    const ring = this.ring;
    ring.record(
      ring.slot(e.id, who, true, STEP.call),
      STEP.call,
      start,
      Number.NaN,
      Number.NaN,
      this.methodName(e.service, e.method),
    );
    const span = this.tracer?.startSpan(`troupe.call ${e.service}.${e.method}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'rpc.system': 'troupe',
        'rpc.service': e.service,
        'rpc.method': e.method,
        'troupe.request_id': e.id,
        'troupe.reply_mode': e.mode,
      },
    });
    const done = (error: unknown) => {
      const end = this.clockNow();
      const ms = end - start;
      const code = error === undefined ? undefined : error instanceof TroupeError ? error.code : 'ERROR';
      const outcome = code === undefined ? 'ok' : (OUTCOME_OF_CODE[code] ?? 'error');
      this.callHistogram(e.service, e.method, e.mode, outcome).observe(ms / 1000);
      ring.record(ring.slot(e.id, who, false, STEP.settled), STEP.settled, end, Number.NaN, ms, code);
      if (span) {
        if (error !== undefined) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? '' });
          if (error instanceof Error) span.recordException(error);
        }
        span.end();
      }
    };
    e.settled.then(
      () => done(undefined),
      (error: unknown) => done(error ?? 'ERROR'),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Helpers.

  private applyHistogram(method: string): HistogramSeries {
    // The ring hands back one string per method (its text table): compared by pointer.
    if (method === this.lastApplyMethod) return this.lastApplySeries!;
    let h = this.applyByMethod.get(method);
    if (!h) {
      h = this.metrics.applyDuration.labels({ method });
      this.applyByMethod.set(method, h);
    }
    this.lastApplyMethod = method;
    this.lastApplySeries = h;
    return h;
  }

  /** `service.method`, built once for a run of calls of one method. */
  private methodName(service: string, method: string): string {
    const last = this.lastCall;
    if (last.service === service && last.method === method) return last.name;
    const name = `${service}.${method}`;
    this.lastCall = { service, method, name, mode: '', outcome: '', series: undefined };
    return name;
  }

  private callHistogram(service: string, method: string, mode: string, outcome: string): HistogramSeries {
    // A client calls few methods, mostly in runs: the last series is compared first (no key built).
    const last = this.lastCall;
    if (
      last.series !== undefined &&
      last.service === service &&
      last.method === method &&
      last.mode === mode &&
      last.outcome === outcome
    )
      return last.series;
    const key = `${service}\0${method}\0${mode}\0${outcome}`;
    let h = this.callByLabels.get(key);
    if (!h) {
      h = this.metrics.callDuration.labels({ method: `${service}.${method}`, mode, outcome });
      this.callByLabels.set(key, h);
    }
    this.lastCall = { service, method, name: `${service}.${method}`, mode, outcome, series: h };
    return h;
  }

  private openSpan(spans: Map<string, Span>, id: string, name: string, kind: SpanKind): Span {
    const span = this.tracer!.startSpan(name, {
      kind,
      attributes: {
        'rpc.system': 'troupe',
        'troupe.request_id': id,
        'troupe.member': this.group?.self ?? '',
      },
    });
    spans.get(id)?.end();
    spans.set(id, span);
    if (spans.size > MAX_OPEN_SPANS) {
      const oldest = spans.keys().next().value as string;
      spans.get(oldest)?.end();
      spans.delete(oldest);
    }
    return span;
  }

  private endSpan(
    spans: Map<string, Span>,
    id: string,
    attributes: Record<string, string | number | boolean | undefined>,
    failed = false,
  ): void {
    const span = spans.get(id);
    if (!span) return;
    spans.delete(id);
    for (const [k, v] of Object.entries(attributes)) if (v !== undefined) span.setAttribute(k, v);
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** Logs refused packets as counts, at most once per `refusedLogMs`: a flood costs one line. */
  /**
   * Flush attempts this member started as coordinator since the block, and how many of them a
   * higher ballot outbid (a restart), when it started any: for the `view installed` line.
   */
  private flushAttempts(group: Group): { flushAttempts?: number; flushOutbid?: number } {
    const from = this.flushFrom;
    const now = flushCounters(group);
    if (!from || !now || now.flushes < from.flushes) return {};
    const attempts = now.flushes - from.flushes;
    return attempts > 0 ? { flushAttempts: attempts, flushOutbid: now.outbid - from.outbid } : {};
  }

  /**
   * While a flush runs, a warning when it has held casts for FLUSH_SLOW_MS, then again every
   * FLUSH_SLOW_MS: a flush that keeps restarting (outbid, a member that never answers) stops the
   * group's traffic, and until now said so only in counters.
   */
  private watchFlush(group: Group): void {
    this.endFlushWatch();
    let next = FLUSH_SLOW_MS;
    this.flushWatch = setInterval(() => {
      if (this.blockedAt === undefined) return this.endFlushWatch();
      const ms = performance.now() - this.blockedAt;
      if (ms < next) return;
      next += FLUSH_SLOW_MS;
      this.logger.warn(
        { ...this.fields(), blockedMs: Math.round(ms), ...this.flushAttempts(group) },
        'flush still running: casts held',
      );
    }, FLUSH_SLOW_MS / 4);
    this.flushWatch.unref();
  }

  private endFlushWatch(): void {
    clearInterval(this.flushWatch);
    this.flushWatch = undefined;
  }

  /**
   * A warning when the replica's running async method has run `stuckApplyMs`, then each time as
   * long again: methods apply one at a time in the order, so one that never settles (an await on
   * something that never answers) stops every later call here, and nothing else says so (the
   * slow-request list sees a request only once it is answered).
   */
  private watchApply(): void {
    if (this.applyWatch || this.stuckApplyMs === 0) return;
    let warned: { requestId: string; next: number } | undefined;
    this.applyWatch = setInterval(
      () => {
        const running = this.replica?.applying();
        if (!running) return;
        if (warned?.requestId !== running.requestId)
          warned = { requestId: running.requestId, next: this.stuckApplyMs };
        if (running.ms < warned.next) return;
        warned.next += this.stuckApplyMs;
        this.logger.warn(
          {
            ...this.fields(),
            requestId: running.requestId,
            method: running.method,
            ms: Math.round(running.ms),
            queued: this.replica?.stats().applyQueued,
          },
          'request still applying: later requests wait',
        );
      },
      Math.min(1_000, Math.max(10, this.stuckApplyMs / 4)),
    );
    this.applyWatch.unref();
  }

  private startRefusedLog(): void {
    if (this.refusedTimer) return;
    this.refusedTimer = setInterval(() => this.logRefused(), this.refusedLogMs);
    this.refusedTimer.unref();
  }

  /** Compares the refusal counters with the last look and logs what grew. */
  private logRefused(): void {
    const stats = this.status().stats;
    const delta: Record<string, number> = {};
    let any = false;
    for (const [source, names] of Object.entries(REFUSALS)) {
      for (const name of names) {
        const v = stats[source]?.[name];
        if (v === undefined) continue;
        const key = `${source}.${name}`;
        const before = this.refusedSeen.get(key) ?? 0;
        // A new incarnation restarts its counters at 0.
        const d = v >= before ? v - before : v;
        this.refusedSeen.set(key, v);
        if (d > 0) {
          delta[key] = d;
          any = true;
        }
      }
    }
    if (any)
      this.logger.warn({ ...this.fields(), refused: delta, sinceMs: this.refusedLogMs }, 'packets refused');
  }
}

/** Client-visible error codes → the `outcome` label of the call histogram (a bounded set). */
const OUTCOME_OF_CODE: Record<string, string> = {
  FAILOVER: 'failover',
  TIMEOUT: 'timeout',
  CLIENT_CLOSED: 'closed',
  NO_MAJORITY: 'no_majority',
  INTERRUPTED: 'interrupted',
};

function push<T>(list: T[], item: T, max = HISTORY): void {
  list.push(item);
  if (list.length > max) list.shift();
}
