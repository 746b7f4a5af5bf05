/**
 * Checkers of the RPC simulation (issue 4's proof): exactly-once replicated calls over the
 * group engine, judged against the order the survivors agreed on.
 *
 * The **agreed log** is rebuilt from the replicas' delivery logs: the primary lineage of views
 * (walking back from the survivors' final view), and for each view the casts delivered in it
 * by the members that completed it. The **model** is a sequential run of that log on a fresh
 * {@link Register} (after a re-founding, from the founders' start state and its backlog, see
 * `refounded`; the history that state came from is part of the agreed log, see `continued` in
 * {@link model}): the first copy of each request id runs, later copies are duplicates;
 * handler calls complete at their `done` record, or are interrupted when their runner leaves.
 */

import { TroupeError } from '../../runtime/errors.js';
import type { Replies } from '../../runtime/rpc/api.js';
import { decodeValue, SNAPSHOT_LIMITS } from '../../runtime/rpc/codec.js';
import {
  ClientClosedError,
  FailoverError,
  NoMajorityError,
  OutcomeUnknownError,
  TimeoutError,
} from '../../runtime/rpc/errors.js';
import { LockTable, type LockTableState } from '../../runtime/rpc/locks.js';
import { decodeGroupMsg, type GroupMsg, type RequestMsg } from '../../runtime/rpc/messages.js';
import { OutcomeTable, type OutcomeTableState } from '../../runtime/rpc/outcomes.js';
import type { MemberId } from '../../runtime/stack/member.js';
import { viewAt } from './blackout.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { Register, type RegisterState, validateRegisterRequest } from './rpc-service.js';
import type { HandlerSpan, LogItem, RpcIncarnation, RpcSim } from './rpc-world.js';
import { type Incarnation, viewKey } from './world.js';

/** The copy of a request the model runs it from: who cast it, when (virtual time of the cast when
 * the simulator saw it, `exact`; else the request's own `ts`, floored to the ms), when it was first
 * delivered, and its issue. */
interface FirstCopy {
  contact: MemberId;
  ts: number;
  exact: boolean;
  at: number;
  issue: number;
}

/** A copy of request `id` that the model answered `expired` (Model.expired). */
export type ExpiredCopy = FirstCopy & { id: string };

export interface RpcChecker {
  name: string;
  check(sim: RpcSim): string[];
}

/** A request's result as every replica recorded it. */
export type ModelResult =
  | { status: 'committed'; ok: true; value: unknown }
  | { status: 'committed'; ok: false; name: string; code: string; message: string }
  | { status: 'interrupted' };

interface AgreedMsg {
  viewKey: string;
  gseq: number | undefined;
  msg: GroupMsg | undefined;
  /** First time any replica delivered it. */
  at: number;
  /** Virtual time its contact cast it, when known. */
  castAt: number | undefined;
}

export interface Model {
  register: Register;
  outcomes: Map<string, ModelResult>;
  /** The `request` copy of each id in the agreed log that the request ran from (none for a
   * request that ran only before a re-founding's root view, or never): who cast it, when (virtual
   * time of the cast, else the request's own `ts`) and when it was first delivered. */
  first: Map<string, FirstCopy>;
  /** Copies of each request id in the agreed log. */
  copies: Map<string, number>;
  /**
   * Copies in the agreed log answered `expired` (at or below their client's floor, no outcome)
   * of requests the model had then no copy run from: each one a copy the model once took for the
   * one its request ran from (FINDINGS 152). For tests: which runs reach that case.
   */
  expired: readonly ExpiredCopy[];
  /** Per client, the highest settled watermark its requests in the agreed log carried. */
  floors: Map<string, number>;
  /** Per client, counters at or below its floor it listed unsettled (`keep`) when the floor passed them. */
  kept: Map<string, Set<number>>;
  problems: string[];
  /**
   * The agreed log's first view, when a replica that founded it had served in an earlier
   * history (`rejoin: 'same'` after the group lost its majority): the founders start from the
   * winning founder's state (StateOffer), so the model starts from the replica's snapshot as
   * they took this view in: its register, outcome table (replies from before are judged by it;
   * what it lacks is excused), pending handler calls, and the backlog the replica still applies
   * before this view (a request of the old history still running, requests queued behind it).
   */
  refounded: string | undefined;
  /**
   * The agreed log's views, first to last (keys as in the incarnations' logs). After a
   * re-founding from a founder's state, the views of the history that state continued come
   * first (FINDINGS 151), and the model holds that history's results too.
   */
  chain: readonly string[];
  /**
   * After a re-founding from a founder's state (`refounded`): the requests whose result the
   * founders' start state, or the history it continued, already held as the group began. Every
   * member of the agreed log knows them from its first view on.
   */
  started: ReadonlySet<string>;
}

const survivor = (i: Incarnation) => i.crashedAt === null && i.partitionedAt === null;
const key64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** Per incarnation, its log cut into view segments. */
function segments(
  inc: RpcIncarnation,
): { key: string; members: readonly MemberId[]; id: number; msgs: LogItem[]; next?: string }[] {
  const out: { key: string; members: readonly MemberId[]; id: number; msgs: LogItem[]; next?: string }[] = [];
  for (const item of inc.log) {
    if (item.t === 'view') {
      const prev = out[out.length - 1];
      if (prev) prev.next = item.key;
      out.push({ key: item.key, members: item.members, id: item.id, msgs: [] });
    } else out[out.length - 1]?.msgs.push(item);
  }
  return out;
}

const cache = new WeakMap<RpcSim, Model>();

/** The agreed log and its sequential run (computed once per simulation). */
export function model(sim: RpcSim): Model {
  const hit = cache.get(sim);
  if (hit) return hit;
  const problems: string[] = [];
  const pred = new Map<string, Set<string>>();
  const views = new Map<string, { id: number; members: readonly MemberId[] }>();
  /** View key → candidate message lists (from members that completed it, or survivors). */
  const lists = new Map<string, { member: MemberId; msgs: LogItem[] }[]>();
  const finals = new Set<string>();
  for (const inc of sim.incarnations) {
    const segs = segments(inc);
    const alive = survivor(inc.rec);
    segs.forEach((s, i) => {
      views.set(s.key, { id: s.id, members: s.members });
      if (s.next) {
        const p = pred.get(s.next) ?? new Set();
        p.add(s.key);
        pred.set(s.next, p);
      }
      const last = i === segs.length - 1;
      if (s.next !== undefined || (last && alive)) {
        const l = lists.get(s.key) ?? [];
        l.push({ member: inc.rec.member, msgs: s.msgs });
        lists.set(s.key, l);
      }
      if (last && alive) finals.add(s.key);
    });
  }
  if (finals.size !== 1) problems.push(`survivors end in ${finals.size} views: ${[...finals].join(' ')}`);
  const firstAt = new Map<string, number>();
  for (const inc of sim.incarnations)
    for (const item of inc.log)
      if (item.t === 'msg') {
        const k = key64(item.payload);
        firstAt.set(k, Math.min(firstAt.get(k) ?? Number.POSITIVE_INFINITY, item.at));
      }

  /**
   * The agreed log ending in view `final` and its run: the lineage of views walking back from
   * it, each view's casts as the members that completed it delivered them (`last`: for `final`
   * itself, one member's own deliveries, the history a re-founding took its state from).
   */
  const lineage = (
    final: string | undefined,
    last: { member: MemberId; msgs: LogItem[] } | undefined,
    problems: string[],
    visiting: ReadonlySet<string>,
  ): { run: Run; chain: string[]; refounded: string | undefined; started: Set<string> } => {
    const chain: string[] = [];
    const seen = new Set<string>();
    for (let k: string | undefined = final; k !== undefined && !seen.has(k); ) {
      seen.add(k);
      chain.unshift(k);
      const p = [...(pred.get(k) ?? [])].sort();
      if (p.length > 1) problems.push(`view ${k} has ${p.length} predecessors: ${p.join(' ')}`);
      k = p[0];
    }
    const root = chain[0];
    const rootMembers = root === undefined ? [] : (views.get(root)?.members ?? []);
    const earlier = (inc: RpcIncarnation) =>
      sim.incarnations.some(
        (o) => o !== inc && o.replica === inc.replica && o.rec.startedAt < inc.rec.startedAt,
      );
    const refounded = sim.incarnations.some((i) => rootMembers.includes(i.rec.member) && earlier(i))
      ? root
      : undefined;
    const run = newRun(sim, firstAt);
    const before: string[] = [];
    if (refounded !== undefined) {
      // The founders start from the winning founder's state (StateOffer), not a fresh register:
      // the replica's snapshot as they took the root view in, which must agree. It is more than
      // the register: its outcome table, pending handler calls, and the backlog the replica will
      // still apply before the root view (an async request of the old history still running, with
      // the register at its pre-image; requests delivered there and queued). The model starts
      // where the replica does: that register and tables, then that backlog, then the agreed log.
      const starts = new Map<string, { members: MemberId[]; start: Uint8Array }>();
      for (const inc of sim.incarnations) {
        const view = inc.log.find((i) => i.t === 'view');
        if (view?.t !== 'view' || view.key !== root || !view.start) continue;
        const k = key64(view.start);
        const s = starts.get(k) ?? { members: [], start: view.start };
        s.members.push(inc.rec.member);
        starts.set(k, s);
      }
      const parsed: { members: MemberId[]; parts: Start }[] = [];
      for (const s of starts.values())
        try {
          parsed.push({ members: s.members, parts: startOf(s.start) });
        } catch (e) {
          problems.push(`re-founded at ${root}: ${s.members.join(',')} started from a bad snapshot: ${e}`);
        }
      // Founders that restored one state may still record different snapshots: each is taken
      // after the replica took the view in, and how much of the common backlog a replica has
      // applied by then differs (one whose own stale async run of the backlog's first request
      // settled takes that run as the new history's and applies the rest at once; the others
      // start the request again, FINDINGS 35). They agree if their backlogs, run through the
      // model, leave the same register and tables: that is the state the group starts from.
      const settled = new Map<string, string[]>();
      for (const p of parsed) {
        const alone = newRun(sim, firstAt);
        alone.startFrom(p.parts);
        const k = settledKey(alone);
        settled.set(k, [...(settled.get(k) ?? []), `${p.members.join(',')}=${describeStart(p.parts)}`]);
      }
      if (settled.size > 1)
        problems.push(
          `re-founded at ${root}: founders start from ${settled.size} states: ${[...settled.values()].map((d) => d.join(' ')).join(' | ')}`,
        );
      const start = parsed[0]?.parts;
      if (start) {
        run.startFrom(start);
        const prior = continued(root!, rootMembers, start, new Set([...visiting, root!]));
        before.push(...prior.chain);
        for (const [id, r] of prior.outcomes) if (!run.outcomes.has(id)) run.outcomes.set(id, r);
        for (const [id, f] of prior.first) if (!run.first.has(id)) run.first.set(id, f);
        for (const [id, n] of prior.copies) run.copies.set(id, (run.copies.get(id) ?? 0) + n);
      }
    }
    const started = new Set(refounded !== undefined ? run.outcomes.keys() : []);
    for (const k of chain) {
      const v = views.get(k)!;
      run.viewChange(v.members);
      const candidates = k === final && last ? [last] : (lists.get(k) ?? []);
      let longest = candidates[0]?.msgs ?? [];
      for (const c of candidates) if (c.msgs.length > longest.length) longest = c.msgs;
      const ids = (l: LogItem[]) => l.map((m) => (m.t === 'msg' ? key64(m.payload) : ''));
      const want = ids(longest);
      for (const c of candidates) {
        const got = ids(c.msgs);
        if (got.length !== want.length || got.some((g, i) => g !== want[i]))
          problems.push(
            `view ${k}: ${c.member} delivered ${got.length} casts, another member ${want.length}, or in another order`,
          );
      }
      for (const item of longest)
        if (item.t === 'msg') run.applyCast(item.payload, item.sender, k, item.gseq, item.at, v.members);
    }
    return { run, chain: [...before.filter((b) => !chain.includes(b)), ...chain], refounded, started };
  };

  /**
   * The history a re-founding at `root` from `start` continues (FINDINGS 151): the founders take
   * one founder's state (StateOffer), so the re-founded group goes on from the history that
   * founder's replica held when its previous incarnation ended. Each founder whose replica served
   * before is a candidate: its previous incarnation's lineage (views walked back from its last,
   * its own deliveries in that last view) run through the model must reach the start state, as
   * the model stands at the root view (`settledKey`: the start's table dropped what the clients
   * had settled). Those that do give the results the start no longer lists; where two disagree
   * the result stays unknown. None reaches it: nothing is taken (the start alone, as before).
   */
  const continued = (
    root: string,
    rootMembers: readonly MemberId[],
    start: Start,
    visiting: ReadonlySet<string>,
  ): Pick<Run, 'outcomes' | 'first' | 'copies'> & { chain: string[] } => {
    const at = newRun(sim, firstAt);
    at.startFrom(start);
    at.viewChange(rootMembers);
    const want = settledKey(at);
    const found: { run: Run; chain: string[] }[] = [];
    const replicas = new Set<RpcIncarnation['replica']>();
    for (const inc of sim.incarnations) {
      const v = inc.log.find((i) => i.t === 'view');
      if (v?.t !== 'view' || v.key !== root || replicas.has(inc.replica)) continue;
      replicas.add(inc.replica);
      const prev = sim.incarnations
        .filter(
          (o) =>
            o.replica === inc.replica &&
            o.rec.startedAt < inc.rec.startedAt &&
            o.log.some((i) => i.t === 'view'),
        )
        .sort((a, b) => b.rec.startedAt - a.rec.startedAt)[0];
      if (!prev) continue;
      const segs = segments(prev);
      const end = segs[segs.length - 1]!;
      if (visiting.has(end.key)) continue;
      const h = lineage(end.key, { member: prev.rec.member, msgs: end.msgs }, [], visiting);
      h.run.viewChange(rootMembers);
      if (settledKey(h.run) === want) found.push(h);
    }
    const outcomes = new Map<string, ModelResult>();
    const disputed = new Set<string>();
    for (const h of found)
      for (const [id, r] of h.run.outcomes) {
        const o = outcomes.get(id);
        if (o && JSON.stringify(o) !== JSON.stringify(r)) disputed.add(id);
        else outcomes.set(id, r);
      }
    for (const id of disputed) outcomes.delete(id);
    const chain = [...new Set(found.flatMap((h) => h.chain))];
    return {
      outcomes,
      first: found[0]?.run.first ?? new Map(),
      copies: found[0]?.run.copies ?? new Map(),
      chain,
    };
  };

  const { run, chain, refounded, started } = lineage([...finals].sort()[0], undefined, problems, new Set());
  const { register, outcomes, first, copies, expired, floors, kept } = run;
  const m: Model = {
    register,
    outcomes,
    first,
    copies,
    expired,
    floors,
    kept,
    problems,
    refounded,
    chain,
    started,
  };
  cache.set(sim, m);
  return m;
}

/** The model's state while it runs an order: the register and the tables the replicas keep. */
interface Run {
  register: Register;
  outcomes: Map<string, ModelResult>;
  first: Map<string, FirstCopy>;
  copies: Map<string, number>;
  /** Model.expired. */
  expired: ExpiredCopy[];
  pending: Map<string, MemberId>;
  /** Who runs an `audit`. The product's table: the model needs the runner each replica names,
   * and the lock rules are not what its checks are about (handler-exclusive checks the runs). */
  locks: LockTable;
  floors: Map<string, number>;
  kept: Map<string, Set<number>>;
  /** Request id → the highest issue whose later copies are refused. */
  fences: Map<string, number>;
  /** Handler calls whose runner is not in `members` are interrupted (a view change). */
  viewChange(members: readonly MemberId[]): void;
  /** One cast of the order: a contact's batch is its requests, one after another at its place. */
  applyCast(
    payload: Uint8Array,
    sender: MemberId,
    viewKey: string,
    gseq: number | undefined,
    at: number,
    members: readonly MemberId[],
  ): void;
  /** Starts from a replica's snapshot: its register and tables, then its backlog. */
  startFrom(start: Start): void;
}

/**
 * What a run holds, as one string: equal for runs that reached the same state. Outcomes and
 * fences at or below their client's floor are left out: a replica's table drops them when a
 * request raises the floor (outcomes.ts), the model keeps them for the reply checks, so a
 * founder that applied its backlog and one whose backlog the model ran differ only there (RPC
 * seed 502912: "founders start from 2 states", 2 outcomes against 1 + 2 queued). A fence whose
 * request has an outcome is left out too: the table drops it when it records the outcome, the
 * model keeps it (it refuses nothing once the outcome is there), so a run of a lineage that fenced
 * a request before running it and a snapshot of the same point differ only there (FINDINGS 151).
 * So are a floor of 0 and an empty kept list: a snapshot lists every session (one a request or
 * query of its client made), the model only clients whose watermark rose.
 */
function settledKey(r: Run): string {
  const sorted = <V>(m: ReadonlyMap<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const above = <V>(m: ReadonlyMap<string, V>) =>
    new Map(
      [...m].filter(([id]) => {
        const colon = id.lastIndexOf(':');
        const client = id.slice(0, colon);
        const n = Number(id.slice(colon + 1));
        return n > (r.floors.get(client) ?? 0) || r.kept.get(client)?.has(n) === true;
      }),
    );
  return JSON.stringify(
    [
      r.register.snapshot(),
      sorted(above(r.outcomes)),
      sorted(r.pending),
      r.locks.snapshot(),
      sorted(new Map([...r.floors].filter(([, f]) => f > 0))),
      sorted(
        new Map([...r.kept].filter(([, k]) => k.size > 0).map(([c, k]) => [c, [...k].sort((a, b) => a - b)])),
      ),
      sorted(new Map([...above(r.fences)].filter(([id]) => !r.outcomes.has(id)))),
    ],
    (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v),
  );
}

/** A fresh run of the model (`firstAt`: when each cast was first delivered anywhere). */
function newRun(sim: RpcSim, firstAt: ReadonlyMap<string, number>): Run {
  const register = new Register();
  const outcomes = new Map<string, ModelResult>();
  const first = new Map<string, FirstCopy>();
  const copies = new Map<string, number>();
  const expired: ExpiredCopy[] = [];
  const pending = new Map<string, MemberId>();
  const locks = new LockTable();
  const floors = new Map<string, number>();
  const kept = new Map<string, Set<number>>();
  const fences = new Map<string, number>();
  /** Handler calls whose runner is not in `members` are interrupted (a view change). */
  const viewChange = (members: readonly MemberId[]) => {
    locks.view(members);
    const present = new Set(members);
    for (const [id, runner] of [...pending])
      if (!present.has(runner)) {
        pending.delete(id);
        outcomes.set(id, { status: 'interrupted' });
      }
  };
  /** One cast of the order: a contact's batch is its requests, one after another at its place. */
  const applyCast = (
    payload: Uint8Array,
    sender: MemberId,
    viewKey: string,
    gseq: number | undefined,
    at: number,
    members: readonly MemberId[],
  ) => {
    let msg: GroupMsg;
    try {
      msg = decodeGroupMsg(payload);
    } catch {
      return;
    }
    // A message whose named author is not its sender is refused at every replica alike
    // (`impersonated`, replica.ts onDeliver; docs/protocol.md "Who may send what"). The simulator's
    // own members forge nothing, but a cast made by an incarnation that was then cut off can reach
    // the order from its process's next incarnation: an `acquire` naming bac55787.2 sent by
    // bac55787.3 made the model's lock table name a holder outside the view, so it expected the
    // handler calls after it there and took them `interrupted` (RPC seed 158100452: c0:19).
    if (msg.kind !== 'requests' && authorOf(msg) !== sender) return;
    for (const one of msg.kind === 'requests' ? partsOf(msg.parts, sender) : [msg])
      apply(
        {
          viewKey,
          gseq,
          msg: one,
          at: firstAt.get(key64(payload)) ?? at,
          castAt: sim.castAt.get(key64(payload)),
        },
        members,
      );
  };
  const startFrom = (start: Start) => {
    register.restore(start.app);
    for (const [id, r] of start.outcomes) outcomes.set(id, r);
    for (const [client, floor] of start.floors) floors.set(client, floor);
    for (const [client, k] of start.kept) kept.set(client, new Set(k));
    for (const [id, upTo] of start.fences) fences.set(id, upTo);
    for (const [id, runner] of start.pending) pending.set(id, runner);
    locks.restore(start.locks);
    let members = start.members;
    for (const b of start.backlog) {
      if (b.t === 'view') {
        members = b.members;
        viewChange(members);
      } else applyCast(b.payload, b.sender, 'backlog', undefined, 0, members);
    }
  };

  /**
   * docs/rpc.md's retention rule: a watermark ends the kept counters it covers and does not list;
   * raising the floor, it keeps the listed ones above the old floor.
   */
  function settle(client: string, settled: number, keep: readonly number[]): void {
    const floor = floors.get(client) ?? 0;
    const k = kept.get(client) ?? new Set<number>();
    for (const n of [...k]) if (n <= settled && !keep.includes(n)) k.delete(n);
    if (settled > floor) {
      for (const n of keep) if (n > floor && n <= settled) k.add(n);
      floors.set(client, settled);
    }
    if (k.size > 0) kept.set(client, k);
    else kept.delete(client);
  }

  function apply(a: AgreedMsg, members: readonly MemberId[]): void {
    const msg = a.msg!;
    if (msg.kind === 'done') {
      if (pending.get(msg.id) !== msg.runner) return;
      pending.delete(msg.id);
      outcomes.set(msg.id, resultOf(msg.result));
      return;
    }
    if (msg.kind === 'acquire') {
      locks.acquire(msg.lock, msg.member);
      return;
    }
    if (msg.kind === 'release') {
      locks.release(msg.lock, msg.member, members);
      return;
    }
    if (msg.kind === 'fence') {
      // Later copies of the issues it names of a request with no outcome are refused (replica.ts).
      if (outcomes.has(msg.id)) return;
      fences.set(msg.id, Math.max(fences.get(msg.id) ?? 0, msg.upTo));
      return;
    }
    if (msg.kind !== 'request') return;
    const colon = msg.id.lastIndexOf(':');
    const client = msg.id.slice(0, colon);
    if (msg.settled !== undefined) settle(client, msg.settled, msg.keep ?? []);
    const upTo = fences.get(msg.id) ?? 0;
    const refused = !outcomes.has(msg.id) && upTo > 0 && msg.issue <= upTo;
    if (refused) return;
    copies.set(msg.id, (copies.get(msg.id) ?? 0) + 1);
    if (outcomes.has(msg.id) || pending.has(msg.id)) return;
    // At or below its client's settled floor with no outcome (the client gave up on it, or a
    // re-founded start's table dropped it): answered `expired`, never run (outcomes.ts).
    const n = Number(msg.id.slice(colon + 1));
    const copy: FirstCopy = {
      contact: msg.contact,
      ts: a.castAt ?? msg.ts,
      exact: a.castAt !== undefined,
      at: a.at,
      issue: msg.issue,
    };
    if (n <= (floors.get(client) ?? 0) && kept.get(client)?.has(n) !== true) {
      if (!first.has(msg.id)) expired.push({ ...copy, id: msg.id });
      return;
    }
    // The copy the request runs from. Not a copy answered from the table or `expired`: after a
    // re-founding it may be the agreed log's first copy of a request that ran, or was settled,
    // before the root view (RPC seed 99550457: a zombie's copy of issue 985, below c1's floor).
    first.set(msg.id, copy);
    let args: unknown[];
    try {
      args = validateRegisterRequest(msg.method, decodeValue(msg.args));
    } catch (e) {
      const err = e as TroupeError;
      outcomes.set(msg.id, {
        status: 'committed',
        ok: false,
        name: err.name,
        code: err.code,
        message: err.message,
      });
      return;
    }
    if (msg.method === 'audit') {
      pending.set(msg.id, locks.holder('audit', members)!);
      return;
    }
    try {
      // The async method's write, without its wait: the replicas apply one request at a time.
      const value =
        msg.method === 'append'
          ? register.appendAfter(args[0] as number, register.ops)
          : (register as unknown as Record<string, (...a: unknown[]) => unknown>)[msg.method]!.apply(
              register,
              args,
            );
      outcomes.set(msg.id, { status: 'committed', ok: true, value });
    } catch (e) {
      const err = e as Error;
      outcomes.set(msg.id, {
        status: 'committed',
        ok: false,
        name: err.name,
        code: 'APP_ERROR',
        message: err.message,
      });
    }
  }
  return {
    register,
    outcomes,
    first,
    copies,
    expired,
    pending,
    locks,
    floors,
    kept,
    fences,
    viewChange,
    applyCast,
    startFrom,
  };
}

/** What a replica's snapshot holds, as the model needs it (the format of replica.ts `encodeSnapshot`). */
interface Start {
  app: RegisterState;
  outcomes: Map<string, ModelResult>;
  floors: Map<string, number>;
  kept: Map<string, number[]>;
  fences: Map<string, number>;
  pending: Map<string, MemberId>;
  locks: LockTableState;
  /** The members of the view it last applied. */
  members: readonly MemberId[];
  backlog: (
    | { t: 'msg'; payload: Uint8Array; sender: MemberId }
    | { t: 'view'; members: readonly MemberId[] }
  )[];
}

/** Decodes a replica's snapshot (`Replica.snapshot()`, version 1) for the model. */
function startOf(bytes: Uint8Array): Start {
  const v = decodeValue(bytes, SNAPSHOT_LIMITS) as unknown[];
  if (!Array.isArray(v) || v[0] !== 1 || v.length !== 9) throw new Error('not a version 1 replica snapshot');
  const [, app, outcomeState, lockState, pendingState, , , members, backlog] = v as [
    1,
    RegisterState,
    OutcomeTableState,
    LockTableState,
    [string, string, string][],
    number,
    number,
    MemberId[],
    (['m', Uint8Array, MemberId, number] | ['v', number, MemberId[]])[],
  ];
  const table = new OutcomeTable();
  table.restore(outcomeState);
  const outcomes = new Map<string, ModelResult>();
  const floors = new Map<string, number>();
  const kept = new Map<string, number[]>();
  const fences = new Map<string, number>();
  for (const [client, floor, , recorded, fenced, keep] of outcomeState[2]) {
    floors.set(client, floor);
    if (keep) kept.set(client, keep);
    for (const [n] of recorded) {
      const id = `${client}:${n}`;
      const o = table.get(id);
      if (o?.status === 'committed') outcomes.set(id, resultOf(o.result));
      else if (o?.status === 'interrupted') outcomes.set(id, { status: 'interrupted' });
    }
    for (const [n, upTo] of fenced) fences.set(`${client}:${n}`, upTo);
  }
  return {
    app,
    outcomes,
    floors,
    kept,
    fences,
    pending: new Map(pendingState.map(([id, , runner]) => [id, runner])),
    locks: lockState,
    members,
    backlog: backlog.map((b) =>
      b[0] === 'm'
        ? { t: 'msg' as const, payload: b[1], sender: b[2] }
        : { t: 'view' as const, members: b[2] },
    ),
  };
}

const describeStart = (s: Start) =>
  `${JSON.stringify(s.app)}+${s.backlog.filter((b) => b.t === 'msg').length} queued, ${s.outcomes.size} outcomes`;

/** The requests of a batch the model applies: the parts that decode to a request of its sender. */
/** The member a group message names as its author (replica.ts onDeliver's `named`). */
function authorOf(msg: Exclude<GroupMsg, { kind: 'requests' }>): MemberId | undefined {
  switch (msg.kind) {
    case 'request':
      return msg.contact;
    case 'done':
      return msg.runner;
    case 'fence':
      return msg.by;
    case 'acquire':
    case 'release':
      return msg.member;
    default:
      return undefined;
  }
}

function partsOf(parts: readonly Uint8Array[], sender: MemberId): RequestMsg[] {
  const out: RequestMsg[] = [];
  for (const part of parts) {
    try {
      const m = decodeGroupMsg(part);
      if (m.kind === 'request' && m.contact === sender) out.push(m);
    } catch {
      // skipped at every replica alike
    }
  }
  return out;
}

function resultOf(
  r: { ok: true; value: Uint8Array } | { ok: false; error: { name: string; code: string; message: string } },
): ModelResult {
  if (r.ok) return { status: 'committed', ok: true, value: decodeValue(r.value) };
  return { status: 'committed', ok: false, name: r.error.name, code: r.error.code, message: r.error.message };
}

const show = (r: ModelResult | undefined) =>
  !r
    ? 'nothing'
    : r.status === 'interrupted'
      ? 'interrupted'
      : r.ok
        ? `value ${JSON.stringify(r.value)}`
        : `error ${r.code}`;

/** (1) Every live replica's state and outcome table equal the sequential run of the agreed log. */
export const sequentialState: RpcChecker = {
  name: 'sequential-state',
  check: (sim) => {
    const m = model(sim);
    const out = [...m.problems];
    if (m.refounded !== undefined) {
      const states = new Map<string, string[]>();
      for (const inc of sim.incarnations.filter((i) => survivor(i.rec))) {
        const k = JSON.stringify(inc.register.snapshot());
        states.set(k, [...(states.get(k) ?? []), inc.rec.member]);
      }
      if (states.size > 1)
        out.push(
          `re-founded at ${m.refounded}, survivors hold ${states.size} states: ${[...states].map(([k, ms]) => `${ms.join(',')}=${k}`).join(' ')}`,
        );
      // The model runs the agreed log from the founders' start state: the survivors hold its end.
      const want = JSON.stringify(m.register.snapshot());
      for (const [got, ms] of states)
        if (got !== want) out.push(`${ms.join(',')} hold ${got}, the re-founded order gives ${want}`);
      return out;
    }
    const want = JSON.stringify(m.register.snapshot());
    for (const inc of sim.incarnations) {
      if (!survivor(inc.rec)) continue;
      const got = JSON.stringify(inc.register.snapshot());
      if (got !== want) out.push(`${inc.rec.member} holds ${got}, the agreed order gives ${want}`);
      for (const [id, r] of m.outcomes) {
        const o = inc.replica.outcome(id);
        // What its client settled is dropped from the table (docs/rpc.md): answered `expired`.
        const colon = id.lastIndexOf(':');
        const [client, n] = [id.slice(0, colon), Number(id.slice(colon + 1))];
        const settled = n <= (m.floors.get(client) ?? 0) && m.kept.get(client)?.has(n) !== true;
        const status = settled ? 'expired' : r.status;
        if (o.status !== status) {
          out.push(`${inc.rec.member} has ${id} ${o.status}, the agreed order gives ${status}`);
          break;
        }
      }
    }
    return out;
  },
};

/**
 * (2) No request's method ran twice at any replica in one history. A state transfer replaces the
 * replica's history (what it applied is gone): requests the provider had not finished when it
 * took the snapshot run again there, rightly; an effect applied twice to one state shows in
 * `same-state` and `true-replies`.
 */
export const noDoubleApply: RpcChecker = {
  name: 'no-double-apply',
  check: (sim) => {
    const out: string[] = [];
    const seen = new Set<RpcIncarnation['doubled']>();
    for (const inc of sim.incarnations) {
      // Incarnations of one rejoining replica share its record: count it once.
      if (seen.has(inc.doubled)) continue;
      seen.add(inc.doubled);
      for (const { id, n } of inc.doubled) out.push(`${inc.rec.member} ran ${id} ${n} times`);
    }
    return out;
  },
};

/** (3) Every call ended, in a reply or in a typed error carrying its request id. */
export const callsEnd: RpcChecker = {
  name: 'calls-end',
  check: (sim) => {
    const out: string[] = [];
    for (const c of sim.calls) {
      for (const f of c.failures)
        if (f.requestId !== c.id) out.push(`${c.id}: ${f.code} names ${f.requestId}`);
      const f = c.final;
      if (!f) {
        out.push(`${c.id} (${c.method}, issued at ${c.issuedAt.toFixed(0)}) never ended`);
        continue;
      }
      if (f.kind === 'value') continue;
      const e = f.error as Error & { requestId?: unknown };
      if (!(e instanceof TroupeError)) out.push(`${c.id} ended in an untyped ${e.name}: ${e.message}`);
      else if (e.code !== 'APP_ERROR' && (e as { requestId?: unknown }).requestId !== c.id)
        out.push(`${c.id} ended in ${e.name} (${e.code}) without its request id`);
      if (e instanceof ClientClosedError) out.push(`${c.id} was still pending when the run ended`);
    }
    return out;
  },
};

/** Every reply a client accepted as final is the agreed one (no reply from a lost or second run). */
export const trueReplies: RpcChecker = {
  name: 'true-replies',
  check: (sim) => {
    const m = model(sim);
    const out: string[] = [];
    for (const c of sim.calls) {
      const f = c.final;
      if (!f) continue;
      const r = m.outcomes.get(c.id);
      if (f.kind === 'value' && f.via === 'reply' && (c.mode === 'all' || c.mode === 'majority')) {
        const got = f.value as Replies<unknown>;
        // A view has members: `all` lists each member of the view its request was ordered in.
        if (got?.entries?.length === 0)
          out.push(`${c.id}: ${c.mode} replies with no entries, agreed: ${show(r)}`);
        out.push(...repliesProblems(c.id, got, r));
        continue;
      }
      if (f.kind === 'value') {
        if (r?.status !== 'committed' || !r.ok || JSON.stringify(r.value) !== JSON.stringify(f.value))
          out.push(`${c.id} got value ${JSON.stringify(f.value)} (${f.via}), agreed: ${show(r)}`);
        continue;
      }
      const e = f.error as Error & { code?: string };
      if (e instanceof FailoverError || e instanceof TimeoutError || e instanceof NoMajorityError) continue; // gave up: no claim
      // Sent before a lost history: no claim on the result (blackout-outcomes and the scenario's
      // `unknown-after-loss` judge the claim that the history was lost).
      if (e instanceof OutcomeUnknownError) continue;
      if (e.code === 'INTERRUPTED') {
        if (r?.status !== 'interrupted') out.push(`${c.id} got INTERRUPTED, agreed: ${show(r)}`);
        continue;
      }
      if (r?.status !== 'committed' || r.ok || r.code !== e.code || r.message !== e.message)
        out.push(`${c.id} got error ${e.code} ${e.message} (${f.via}), agreed: ${show(r)}`);
    }
    return out;
  },
};

/** `all`/`majority` replies: each member's answer is the agreed result of the request. */
function repliesProblems(id: string, got: Replies<unknown>, r: ModelResult | undefined): string[] {
  const out: string[] = [];
  if (got?.requestId !== id) return [`${id} got replies for ${String(got?.requestId)}`];
  for (const e of got.entries) {
    if (e.status === 'ok') {
      if (r?.status !== 'committed' || !r.ok || JSON.stringify(r.value) !== JSON.stringify(e.value))
        out.push(`${id}: ${e.member} replied ${JSON.stringify(e.value)}, agreed: ${show(r)}`);
    } else if (e.status === 'error') {
      if (e.error.code === 'INTERRUPTED' && r?.status === 'interrupted') continue;
      if (r?.status !== 'committed' || r.ok || r.code !== e.error.code || r.message !== e.error.message)
        out.push(`${id}: ${e.member} replied error ${e.error.code}, agreed: ${show(r)}`);
    }
  }
  return out;
}

/** (4) Every settled outcome answer is true of the final agreed log. */
export const trueOutcomes: RpcChecker = {
  name: 'true-outcomes',
  check: (sim) => {
    const m = model(sim);
    const out: string[] = [];
    for (const c of sim.calls)
      for (const a of c.outcomes) {
        const r = m.outcomes.get(c.id);
        const where = `${c.id} outcome from ${a.member} at ${a.at.toFixed(1)}`;
        if (a.status === 'committed') {
          const same =
            r?.status === 'committed' &&
            (r.ok
              ? a.error === undefined && JSON.stringify(r.value) === JSON.stringify(a.value)
              : a.error?.code === r.code && a.error.message === r.message);
          if (!same)
            out.push(`${where}: committed ${JSON.stringify(a.value ?? a.error)}, agreed: ${show(r)}`);
        } else if (a.status === 'interrupted') {
          if (r?.status !== 'interrupted') out.push(`${where}: interrupted, agreed: ${show(r)}`);
        } else if (a.status === 'expired') {
          out.push(`${where}: expired (no outcome is old enough to expire in a run)`);
        } else if (a.status === 'not-found' && a.settled) {
          // Final: the request never commits from a copy of an issue the client had sent before
          // this answer, however late that copy reached a contact; nor from a copy cast before it.
          const f = m.first.get(c.id);
          let issued = 0;
          for (const s of sim.issuesSent.get(c.id) ?? []) if (s.at < a.at) issued = s.issue;
          // A stamp floored to the ms is before the answer only if its whole ms is: a reissue cast
          // in the answer's own ms, after it, was taken for a copy cast before it (RPC seed
          // 105600093: stamp 861, answer at 861.5, its issue 861 sent after the answer).
          if (f && (f.issue <= issued || (f.exact ? f.ts < a.at : f.ts + 1 <= a.at)))
            out.push(
              `${where}: settled not-found, but a copy of issue ${f.issue} (issue ${issued} sent before the answer) cast by ${f.contact} at ${f.ts} is in the agreed order (delivered at ${f.at.toFixed(1)})`,
            );
        }
      }
    return out;
  },
};

/** Replicas never hit an internal error or an undecodable group message. */
export const replicaHealth: RpcChecker = {
  name: 'replica-health',
  check: (sim) => {
    const out: string[] = [];
    for (const inc of new Map(sim.incarnations.map((i) => [i.replica, i])).values()) {
      const s = inc.replica.stats();
      if (s.internalErrors > 0) out.push(`${inc.rec.member}: ${s.internalErrors} internal errors`);
      if (s.badGroupMessages > 0) out.push(`${inc.rec.member}: ${s.badGroupMessages} bad group messages`);
      if (s.malformed > 0) out.push(`${inc.rec.member}: ${s.malformed} malformed client packets`);
    }
    return out;
  },
};

/**
 * Progress: each client's probe call, made once the faults are over (`probeAtMs`), is answered
 * with a value before the run ends (`endMs`). A group that never orders again, or a client that
 * cannot follow it, fails here even when no earlier call was left pending.
 */
export const rpcProgress: RpcChecker = {
  name: 'progress',
  check: (sim) => {
    const at = sim.cfg.probeAtMs;
    if (at === undefined) return [];
    const probes = sim.calls.filter((c) => c.probe);
    if (probes.length < sim.clients.length)
      return [`${sim.clients.length - probes.length} clients made no probe call at ${at} ms`];
    const out: string[] = [];
    const live = sim.world.incarnations.filter(survivor);
    const finals = new Set(live.map((i) => i.views[i.views.length - 1]?.id ?? 0));
    for (const c of probes) {
      // By `endMs`: the run goes on past it only for calls in flight then (RpcSim.run).
      if (c.final?.kind === 'value' && c.final.at <= sim.cfg.endMs) continue;
      const ended = !c.final
        ? 'never ended'
        : c.final.kind === 'value'
          ? `was answered only at ${c.final.at.toFixed(0)} ms, past the end`
          : `ended in ${(c.final as { error: Error }).error.name}`;
      out.push(
        `probe call ${c.id} made at ${at} ms ${ended} (${live.length} survivors in ${finals.size} view(s))`,
      );
    }
    return out;
  },
};

/**
 * Handler calls of one lock never run at two places at once, and a member's hold of the lock (from
 * its `acquire()` resolving to its `release()`) overlaps no other member's hold or run of it
 * (docs/rpc.md "Handler locks"): a run or hold begins only after every other member's earlier
 * ones ended, unless, when it began, one of the two members had already left the other out of its
 * view. A member cut off cannot be stopped, only left out of the group: until it learns of its
 * exclusion it may go on running (and start) calls of a lock it held, which the group records as
 * `interrupted`, while the group's new holder runs the next ones. Needs `lockMoves` (the runs and
 * holds are recorded then).
 */
export const handlerExclusive: RpcChecker = {
  name: 'handler-exclusive',
  check: (sim) => {
    const out: string[] = [];
    const incOf = new Map(sim.world.incarnations.map((i) => [i.member, i]));
    /** Whether `member`'s last view installed by `at` lacks `other`. */
    const leftOut = (member: MemberId, other: MemberId, at: number) => {
      const views = incOf.get(member)?.views.filter((v) => v.at <= at) ?? [];
      const view = views[views.length - 1];
      return view !== undefined && !view.members.includes(other);
    };
    const what = (s: HandlerSpan) => (s.kind === 'run' ? `run of ${s.id}` : s.id);
    const spans = sim.handlerSpans;
    for (let j = 0; j < spans.length; j++) {
      const later = spans[j]!;
      for (let i = 0; i < j; i++) {
        const earlier = spans[i]!;
        if (earlier.end <= later.start) continue;
        const { member: a } = earlier;
        const { member: b, start } = later;
        // A member runs the calls of a lock it holds; its own runs are one at a time (its
        // handler chain), so only two members' spans can clash.
        if (a === b) continue;
        if (leftOut(b, a, start) || leftOut(a, b, start)) continue;
        const end = earlier.end === Number.POSITIVE_INFINITY ? 'never ended' : `ended at ${earlier.end}`;
        out.push(
          `${b} began its ${what(later)} at ${start} ms while ${a}'s ${what(earlier)} (from ${earlier.start} ms) ${end}`,
        );
      }
    }
    return out;
  },
};

/**
 * Every `acquire()` settles (docs/rpc.md "Handler locks"): resolved once held, or rejected when
 * its member was cut off. At the end no process still alive waits on one: the lock loop stops
 * at the probe and every hold ends within 320 ms of it. Needs `lockMoves`. (Session 23: an
 * acquire made while cut off named the incarnation that ended and never settled.)
 */
export const locksSettle: RpcChecker = {
  name: 'locks-settle',
  check: (sim) => {
    const out: string[] = [];
    for (const [index, a] of sim.acquiring) {
      const node = sim.world.nodes[index]!;
      if (!node.alive || node.inc !== a.inc) continue; // its process ended: its waits never end
      out.push(`an acquire() by ${a.member} from ${a.at.toFixed(0)} ms never settled`);
    }
    return out;
  },
};

/**
 * The call context is the same at every replica (docs/rpc.md "Call context"): `now` (the
 * contact's clock when it ordered the request, raised to the previous ordered `now`) and
 * `random()` (seeded from the request id) are equal wherever a request ran in the histories the
 * survivors hold, and `now` never goes backwards along one replica's history. Only survivors'
 * current histories are compared: a history a replica gave up (a restored state) may have
 * ordered the request elsewhere, in a lineage that stopped.
 */
export const sameContext: RpcChecker = {
  name: 'same-context',
  check: (sim) => {
    const out: string[] = [];
    const seen = new Set<RpcIncarnation['contexts']>();
    const first = new Map<string, { member: MemberId; now: number; random: number }>();
    for (const inc of sim.incarnations) {
      if (seen.has(inc.contexts)) continue;
      seen.add(inc.contexts);
      for (const b of inc.backwards)
        out.push(`${inc.rec.member} ran ${b.id} at now ${b.now}, after a run at now ${b.after}`);
    }
    seen.clear();
    for (const inc of sim.incarnations) {
      if (!survivor(inc.rec) || seen.has(inc.contexts)) continue;
      seen.add(inc.contexts);
      for (const [id, c] of inc.contexts) {
        const f = first.get(id);
        if (!f) first.set(id, { member: inc.rec.member, ...c });
        else if (f.now !== c.now || f.random !== c.random)
          out.push(
            `${id}: ${f.member} ran it at now ${f.now} random ${f.random}, ${inc.rec.member} at now ${c.now} random ${c.random}`,
          );
        if (out.length > 20) return out;
      }
    }
    return out;
  },
};

/**
 * After a blackout (test/sim/blackout.ts), no false `not-found`: a settled `not-found` from a
 * member of the agreed log for a request the re-founded group's start state already held (that
 * reissue would run it twice). `true-outcomes` judges only requests whose copy the agreed log ran.
 * Nor a false `unknown` (the client's reading of such a `not-found` after it followed the group
 * into its new history): the group did know the request.
 */
export const blackoutOutcomes: RpcChecker = {
  name: 'blackout-outcomes',
  check: (sim) => {
    if (sim.world.blackouts.length === 0) return [];
    const m = model(sim);
    if (m.refounded === undefined) return [];
    // The new group's views: from the re-founding on (not the history its start continued).
    const chain = new Set(m.chain.slice(m.chain.indexOf(m.refounded)));
    // The re-founding: the first install of the agreed log's root view. Before it, the request
    // may not have been ordered yet in the history the start state continues.
    let began = Number.POSITIVE_INFINITY;
    for (const inc of sim.world.incarnations)
      for (const v of inc.views) if (viewKey(v) === m.refounded) began = Math.min(began, v.at);
    const out: string[] = [];
    for (const c of sim.calls)
      for (const a of c.outcomes) {
        if (a.status !== 'not-found' && a.status !== 'unknown') continue;
        if (!a.settled || a.at < began || !m.started.has(c.id)) continue;
        const view = viewAt(sim.world, a.member, a.at);
        if (view === undefined || !chain.has(view)) continue;
        out.push(
          `${c.id} outcome from ${a.member} at ${a.at.toFixed(1)}: settled ${a.status} in ${view}, but the re-founded group started from a state holding it (${m.outcomes.get(c.id)?.status})`,
        );
      }
    return out;
  },
};

export const RPC_CHECKERS: readonly RpcChecker[] = [
  sequentialState,
  noDoubleApply,
  handlerExclusive,
  locksSettle,
  callsEnd,
  trueReplies,
  trueOutcomes,
  replicaHealth,
  rpcProgress,
  sameContext,
  blackoutOutcomes,
  // The group engine under the replicas keeps its own invariants too (its toy same-state is
  // not kept in RPC mode: sequential-state checks the replicas' real state instead).
  // Its probes are the clients' probe calls (rpcProgress), not member casts.
  ...GROUP_CHECKERS.filter((c) => c.name !== 'same-state' && c.name !== 'progress').map((c) => ({
    name: c.name,
    check: (sim: RpcSim) => c.check(sim.world),
  })),
];
