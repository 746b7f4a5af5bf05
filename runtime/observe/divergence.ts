/**
 * Replica divergence detection. A member casts a *checkpoint* into the total order; every
 * replica reaches it at the same point of its apply order, digests its replicated state there
 * ({@link Replica.digest}) and casts a *report* of the digest, also ordered. Every replica
 * applies the same reports in the same order, so all of them reach the same verdict: which
 * digest the majority holds and which members are the minority. Both messages are `request`
 * group messages of the service {@link OBSERVE_SERVICE}: replicas never run a method for them
 * and record no outcome, so checking changes no replicated state.
 *
 * A replica restored from a snapshot holds a copy of its provider's state: that it agrees with
 * its provider says nothing about what the provider held when the copy was taken. Its report
 * names the copy's origin until a check confirms its state, and the tally counts one vote per
 * independent lineage of state ({@link tallyDigests}; FINDINGS 216).
 */
import { steadyNow } from '../clock.js';
import { TroupeError } from '../errors.js';
import type { GroupHandle } from '../group/types.js';
import { decodeValue, encodeValue } from '../rpc/codec.js';
import { encodeGroupMsg, type RequestMsg } from '../rpc/messages.js';
import { divergenceChannel, OBSERVE_SERVICE, type TroupeEvent } from './events.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** A state digest mismatch seen at one checkpoint. */
export interface DivergenceRecord {
  at: number;
  /** The checkpoint's id: the agreed point of the order. */
  checkpoint: string;
  /** The view the checkpoint was applied in. */
  viewId: number;
  /** digest → the members that reported it. */
  digests: Record<string, string[]>;
  /** member → the last client request it applied before the checkpoint. */
  lastRequests: Record<string, string | undefined>;
  /**
   * The members whose digest is not the majority's (empty when no digest has a majority). The
   * majority is of independent lineages of state, not of members (see {@link tallyDigests}).
   */
  minority: string[];
  /**
   * member → the member whose state its own is a copy of, for the members whose report named
   * one (restored from a snapshot, not yet confirmed by a check); absent when none did.
   */
  origins?: Record<string, string>;
}

/** One member's report at a check: its digest, and the origin of its state if it is a copy. */
export interface DigestVote {
  digest: string;
  /** The member whose state the reporter's is an unconfirmed copy of; undefined: its own. */
  origin?: string | undefined;
}

/** What {@link tallyDigests} finds. */
export interface DigestTally {
  /** The digest more than half of the lineages hold, when exactly one digest does. */
  majority: string | undefined;
  /** The reporters whose digest is not `majority` (none without a majority). */
  minority: string[];
  /** Reporter → its lineage: the reporter whose own state the reported one descends from. */
  lineages: Map<string, string>;
  /** How many lineages hold `majority` (0 without one). */
  support: number;
}

/**
 * The verdict of one check: **one vote per independent lineage of state.** A replica restored
 * from a snapshot holds a copy of its provider's state, so its agreement with the provider is
 * no evidence of what the provider held when the copy was taken. Counted as a member, a copy of
 * a replica that had already diverged outvoted a healthy replica, which was then named the
 * minority and, with `onDivergence: 'leave'`, would have stopped (FINDINGS 216).
 *
 * A reporter's lineage is its report's origin, followed through the reporters of this check
 * (a copy of a copy whose provider was of an older release names the provider only), else the
 * reporter itself. Each lineage votes for every digest one of its members reported, and a digest
 * held by more than half of the lineages is the majority, if exactly one is. So:
 * - a copy that agrees with its origin adds nothing: healthy H against buggy B and its copy J
 *   is one lineage against one, no majority, no minority (a tie names no one, as always);
 * - a lineage whose members disagree has diverged since the copy was taken: where one side
 *   agrees with another lineage, that other lineage's independent state confirms it (H and J
 *   against B names B: J, from B's earlier state, reached H's by its own application);
 * - without copies every member is its own lineage, and the verdict is the plain majority of
 *   members it always was.
 * Why not abstain instead (a copy votes from its first check after the restore on): a state
 * the provider got wrong before the copy stays wrong in the copy at every later check, so the
 * copy would outvote the healthy replica at the next one all the same.
 */
export function tallyDigests(votes: ReadonlyMap<string, DigestVote>): DigestTally {
  const lineages = new Map<string, string>();
  for (const member of votes.keys()) lineages.set(member, lineageOf(votes, member));
  const held = new Map<string, Set<string>>();
  for (const [member, v] of votes) {
    const key = lineages.get(member)!;
    const digests = held.get(key) ?? new Set<string>();
    digests.add(v.digest);
    held.set(key, digests);
  }
  const weight = new Map<string, number>();
  for (const digests of held.values()) for (const d of digests) weight.set(d, (weight.get(d) ?? 0) + 1);
  // A lineage split across digests votes for each, so two digests may both pass half: no verdict.
  const over = [...weight].filter(([, w]) => w * 2 > held.size);
  const majority = over.length === 1 ? over[0]![0] : undefined;
  const minority =
    majority === undefined ? [] : [...votes].filter(([, v]) => v.digest !== majority).map(([m]) => m);
  return { majority, minority, lineages, support: majority === undefined ? 0 : weight.get(majority)! };
}

/**
 * A reporter's lineage: its origin, and that origin's origin while the origin reported too
 * (bounded by the reports; a cycle, which only replicas of older releases could make, is named
 * by its least member so every replica names it alike).
 */
function lineageOf(votes: ReadonlyMap<string, DigestVote>, member: string): string {
  const seen: string[] = [];
  let at = member;
  for (;;) {
    const origin = votes.get(at)?.origin;
    if (origin === undefined || origin === at) return at;
    seen.push(at);
    if (seen.includes(origin)) return seen.slice(seen.indexOf(origin)).sort()[0]!;
    if (!votes.has(origin)) return origin;
    at = origin;
  }
}

export interface DivergenceOptions {
  /**
   * The view's coordinator starts a check after every this many requests it applied (0: only on
   * demand, `observer.checkDivergence()`). Each check costs one state digest
   * per replica and 1 + members ordered messages. Default 1000.
   */
  checkEvery?: number;
  /**
   * The largest share of a replica's time periodic checks may spend digesting (default 0.002).
   * A digest hashes the whole state and blocks the event loop while it does, so the next
   * periodic check waits at least the coordinator's last digest time ÷ this share: a large state
   * is checked less often rather than stalling every replica every `checkEvery` requests.
   * `false`: every `checkEvery` requests, whatever the digest costs (checks on demand are never
   * spaced).
   */
  digestShare?: number | false;
  /**
   * What a replica in the minority does: `report` (default: event, metric, log line), `leave`
   * (also leaves the group, so it stops answering with a diverged state), or a function called
   * with the record at every replica.
   */
  onDivergence?: 'report' | 'leave' | ((record: DivergenceRecord) => void);
}

interface Check {
  viewId: number;
  members: string[];
  reports: Map<string, { digest: string; last: string | undefined; origin: string | undefined }>;
  /** This replica's report: confirms its state to the replica when the majority holds it. */
  confirm: (() => void) | undefined;
}

/** The longest origin a report may name (a member id is `nnnnnnnn.i`). */
const MAX_ORIGIN = 64;

type SystemEvent = Extract<TroupeEvent, { type: 'system' }>;

/** Checks kept waiting for reports; an older incomplete one is judged on what it has. */
const OPEN_CHECKS = 16;

/**
 * The default `digestShare`. A digest runs at every replica at once, and a replica is busy only
 * part of the time, so a share of wall time is several times that share of its CPU: at 0.01 the
 * checks of a busy bank group (its state 8 ms to digest after 20,000 deposits) took ~3 % of the
 * replicas' CPU under the 64-outstanding bench load (docs/observability.md, "Cost"). At 0.002 a
 * 1 ms digest is checked at most every half second, an 8 ms one every 4 s.
 */
export const DEFAULT_DIGEST_SHARE = 0.002;

/**
 * Checks the `check` query starts (any host without a key, any key holder with one) are spaced
 * by at least this many ms, and by the last digest's duration ÷ {@link QUERY_DIGEST_SHARE}, after
 * the last checkpoint this replica applied or the last it started for a query: one datagram
 * costs every replica a digest of its whole state, so unspaced, a burst of 30 from a host
 * outside a keyless group blocked every replica of a 300,000-account bank for over 15 s.
 */
export const QUERY_CHECK_MIN_MS = 1_000;
/** The largest share of a replica's time the checks queries start may spend digesting. */
export const QUERY_DIGEST_SHARE = 0.05;

export class DivergenceMonitor {
  private readonly checks = new Map<string, Check>();
  private counter = 0;
  /** Requests applied since the last periodic check started. */
  private applied = 0;
  /** When the last periodic check started, and how long this replica's last digest took (ms). */
  private lastStart = Number.NEGATIVE_INFINITY;
  private digestMs = 0;
  /** When this replica last applied a checkpoint or started a check for a query (ms), and its id. */
  private lastQueried = Number.NEGATIVE_INFINITY;
  private lastCheckpoint: string | undefined;
  readonly records: DivergenceRecord[] = [];

  constructor(
    private readonly group: () => GroupHandle | undefined,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: DivergenceOptions = {},
    /** Told after each record (the live page refreshes). */
    private readonly onRecord?: () => void,
    /** Milliseconds, for the digest budget (injected by tests). The observer's clock by default. */
    private readonly clock: () => number = steadyNow,
  ) {
    const share = options.digestShare;
    if (share !== undefined && share !== false && !(share > 0 && share <= 1))
      throw new TroupeError('OBSERVE_BAD_OPTION', 'divergence.digestShare must be in (0, 1] or false');
  }

  /** Starts a check now: casts a checkpoint into the order. Returns its id, or undefined without a view. */
  start(): string | undefined {
    const g = this.group();
    if (!g?.view) return undefined;
    const id = `chk-${g.self.replace(/[^A-Za-z0-9_-]/g, '-')}:${++this.counter}`;
    this.cast(g, id, 'checkpoint', []);
    return id;
  }

  /**
   * The `check` query: starts a check as {@link start} does unless one was applied or started
   * here too recently ({@link QUERY_CHECK_MIN_MS}), in which case it answers that check's id.
   */
  startQueried(): string | undefined {
    const now = this.clock();
    if (now - this.lastQueried < Math.max(QUERY_CHECK_MIN_MS, this.digestMs / QUERY_DIGEST_SHARE))
      return this.lastCheckpoint;
    const id = this.start();
    if (id !== undefined) {
      this.lastQueried = now;
      this.lastCheckpoint = id;
    }
    return id;
  }

  /**
   * A client request was applied here: the coordinator starts a check every `checkEvery`.
   * `now`: the monitor's clock, when the caller has just read it (the observer, for the step).
   */
  onApplied(now?: number): void {
    const every = this.options.checkEvery ?? 1000;
    const g = this.group();
    if (every <= 0 || !g?.view) return;
    this.applied++;
    if (this.applied < every || g.view.members[0] !== g.self) return;
    const share = this.options.digestShare ?? DEFAULT_DIGEST_SHARE;
    // Past `checkEvery`, every request asks until the spacing allows a check: a clock read each
    // at the coordinator, unless the caller's is given.
    now ??= this.clock();
    // Small digests too (session 22): unspaced, the checks were 1.3–1.6 % of the busy samples
    // of an in-process profile at ~17,000 calls/s (bench/inproc-call.ts --observe), 0.5 % spaced.
    if (share !== false && now - this.lastStart < this.digestMs / share) return;
    this.applied = 0;
    this.lastStart = now;
    this.start();
  }

  /**
   * A view admitted members: the coordinator starts a check at once (spaced by the digest time
   * as {@link onApplied} is). A joiner's state is a copy, whose vote counts with its origin's
   * until a check confirms it (FINDINGS 216); checked at its join, while its origin most likely
   * still agrees with the others, it is confirmed and an independent witness from then on. Left
   * to the next periodic check, a divergence that began meanwhile found the healthy copy still
   * merged with its origin, and two lineages tied: no one was named (139 of 2,000 seeds of
   * test/observe/divergence-sweep.ts).
   */
  onJoined(): void {
    const g = this.group();
    if ((this.options.checkEvery ?? 1000) <= 0 || !g?.view || g.view.members[0] !== g.self) return;
    const share = this.options.digestShare ?? DEFAULT_DIGEST_SHARE;
    const now = this.clock();
    if (share !== false && now - this.lastStart < this.digestMs / share) return;
    this.applied = 0;
    this.lastStart = now;
    this.start();
  }

  onSystem(e: SystemEvent): void {
    const g = this.group();
    if (!g) return;
    let args: unknown[];
    try {
      const v = decodeValue(e.msg.args);
      args = Array.isArray(v) ? v : [];
    } catch {
      return;
    }
    if (e.msg.method === 'checkpoint') {
      // Older checks still waiting lost a member on the way: judge them on what they have.
      for (const [id, c] of this.checks) if (c.reports.size >= 2) this.judge(id, c);
      this.checks.set(e.msg.id, {
        viewId: e.view.id,
        members: e.view.members,
        reports: new Map(),
        confirm: e.confirm,
      });
      while (this.checks.size > OPEN_CHECKS) this.checks.delete(this.checks.keys().next().value as string);
      const t0 = this.clock();
      const digest = e.digest();
      this.digestMs = this.clock() - t0;
      this.lastQueried = Math.max(this.lastQueried, t0);
      this.lastCheckpoint = e.msg.id;
      // The fifth element, the origin of a copied state, only when there is one: a replica of
      // an older release reads the first four and ignores what follows, and counts this report
      // as it always did; a report of an older release has none and counts as its own lineage.
      const origin = e.origin !== undefined && e.origin !== g.self ? [e.origin] : [];
      this.cast(g, `rpt-${g.self.replace(/[^A-Za-z0-9_-]/g, '-')}:${++this.counter}`, 'report', [
        e.msg.id,
        g.self,
        digest,
        e.last ?? '',
        ...origin,
      ]);
      return;
    }
    if (e.msg.method === 'report') {
      const [checkpoint, member, digest, last, origin] = args;
      if (typeof checkpoint !== 'string' || typeof member !== 'string' || typeof digest !== 'string') return;
      const c = this.checks.get(checkpoint);
      if (!c?.members.includes(member)) return;
      c.reports.set(member, {
        digest,
        last: typeof last === 'string' && last !== '' ? last : undefined,
        // Anything but a member id (a later release's field) reads as none.
        origin:
          typeof origin === 'string' && origin !== '' && origin !== member && origin.length <= MAX_ORIGIN
            ? origin
            : undefined,
      });
      if (c.members.every((m) => c.reports.has(m))) this.judge(checkpoint, c);
    }
  }

  private judge(checkpoint: string, c: Check): void {
    this.checks.delete(checkpoint);
    this.metrics.divergenceChecks.inc();
    const digests: Record<string, string[]> = {};
    for (const [member, r] of c.reports) {
      digests[r.digest] ??= [];
      digests[r.digest]!.push(member);
    }
    const { majority, minority, support } = tallyDigests(c.reports);
    // This replica's state held the majority's digest here: confirmed, so from this checkpoint
    // on it is a witness of its own (its copy's origin no longer merges its vote). Confirmed
    // only by another lineage's agreement, or by a check every member of the view reported
    // in: agreeing with its own origin alone, when a member's report is missing, proves
    // nothing (the missing one may be the healthy one).
    const self = this.group()?.self;
    const complete = c.members.every((m) => c.reports.has(m));
    if (majority !== undefined && (support >= 2 || complete) && self !== undefined)
      if (c.reports.get(self)?.digest === majority) c.confirm?.();
    if (Object.keys(digests).length === 1) return;
    const origins = [...c.reports].filter(([, r]) => r.origin !== undefined);
    const record: DivergenceRecord = {
      at: Date.now(),
      checkpoint,
      viewId: c.viewId,
      digests,
      lastRequests: Object.fromEntries([...c.reports].map(([m, r]) => [m, r.last])),
      minority,
      ...(origins.length > 0 ? { origins: Object.fromEntries(origins.map(([m, r]) => [m, r.origin!])) } : {}),
    };
    this.records.push(record);
    if (this.records.length > 50) this.records.shift();
    const g = this.group();
    this.metrics.divergences.inc();
    this.logger.error(
      { member: self, view: c.viewId, ...record, inMinority: self !== undefined && minority.includes(self) },
      'replica divergence: state digests differ at an agreed point of the order',
    );
    if (divergenceChannel.hasSubscribers) divergenceChannel.publish({ member: self, ...record });
    this.onRecord?.();
    const action = this.options.onDivergence ?? 'report';
    if (typeof action === 'function') action(record);
    else if (action === 'leave' && g && self !== undefined && minority.includes(self)) {
      this.logger.fatal(
        { member: self, view: c.viewId, checkpoint },
        'leaving the group: this replica diverged',
      );
      g.leave().catch(() => {});
    }
  }

  private cast(g: GroupHandle, id: string, method: string, args: unknown[]): void {
    const msg: RequestMsg = {
      kind: 'request',
      id,
      service: OBSERVE_SERVICE,
      method,
      args: encodeValue(args),
      mode: 'none',
      // No client: no member answers anyone for it. The contact is the caster, as replicas
      // require of every ordered request (issue 11: no member casts in another's name).
      client: '',
      contact: g.self,
      ts: 0,
      settled: undefined,
      issue: 0,
    };
    try {
      g.cast(encodeGroupMsg(msg), { order: 'total' });
    } catch {
      // A closed member checks nothing.
    }
  }
}
