/**
 * An RPC scenario: replicas of the register service over the group stack, non-member clients
 * calling them, and the seed's faults, crashes of the clients' contacts included.
 */
import { createHash } from 'node:crypto';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { randomInt, seededRandom } from '../../runtime/stack/random.js';
import { viewAt } from './blackout.js';
import { type MajorityLoss, watchMajority } from './majority.js';
import { planFlushNap, planSkew, planStateTransferCut } from './patterns.js';
import { model, RPC_CHECKERS, type RpcChecker } from './rpc-checkers.js';
import { DEFAULT_RPC_OPTIONS, type RpcOptions, RpcSim } from './rpc-world.js';
import { groupConfig, planFaults, sequencerNode } from './scenario.js';
import { type Fault, type ScenarioConfig, viewKey, type World } from './world.js';

export interface RpcScenarioResult {
  seed: number;
  violations: string[];
  /**
   * Expected unavailability: what the run lost because the majority rule stopped the whole
   * group ({@link watchMajority}); not violations. Empty unless the majority was lost.
   */
  expected: string[];
  losses: MajorityLoss[];
  trace: string[];
  /** SHA-256 of the trace (when traced) and of every call's ending: equal runs, equal hashes. */
  hash: string;
  sim: RpcSim;
}

/** The group scenario's stack and timing; no application casts (the clients make the load). */
export function rpcConfig(seed: number, members: number, faults: Iterable<Fault>): ScenarioConfig {
  // Probe calls (the RPC `progress` checker) come 6 s before the end, long after the faults.
  return { ...groupConfig(seed, members, faults), messages: 0, endMs: 20_000, probeAtMs: 14_000 };
}

/**
 * Whether node `target` may stop (crash or pause) now without costing the group its primary
 * partition: of the newest view installed by a live member, the members that installed it and
 * are alive and not paused, `target` aside, must stay a majority. (Losing the primary partition
 * loses the replicated state by design, the majority rule; then nothing is left to check.)
 */
function safeToStop(w: World, target: number): boolean {
  const live = w.nodes.filter((n) => n.alive && n.rec.partitionedAt === null);
  let view: { id: number; members: readonly string[] } | undefined;
  for (const n of live) {
    const v = n.rec.views[n.rec.views.length - 1];
    if (v && (!view || v.id > view.id)) view = v;
  }
  if (!view) return false;
  const key = viewKey(view as Parameters<typeof viewKey>[0]);
  const up = live.filter((n) => {
    const v = n.rec.views[n.rec.views.length - 1];
    return n.index !== target && n.pausedUntil <= w.now && v !== undefined && viewKey(v) === key;
  });
  return up.length > view.members.length / 2;
}

/**
 * {@link safeToStop} for `xfer`'s provider, which strikes as a joiner is being given its state:
 * the newest view's members count when they run (alive, not paused), whether or not they have
 * installed it yet (the joiner installs it with its state, which the provider is sending).
 */
function safeToStopProvider(w: World, target: number): boolean {
  let view: { id: number; members: readonly string[] } | undefined;
  for (const n of w.nodes) {
    if (!n.alive || n.rec.partitionedAt !== null) continue;
    const v = n.rec.views[n.rec.views.length - 1];
    if (v && (!view || v.id > view.id)) view = v;
  }
  if (!view) return false;
  const up = w.nodes.filter(
    (n) => n.alive && n.index !== target && n.pausedUntil <= w.now && view.members.includes(n.rec.member),
  );
  return up.length > view.members.length / 2;
}

/**
 * Crashes (one node down at a time, each a client's current contact most often, else any
 * member; restarted later as a new incarnation) and pauses, each only when
 * {@link safeToStop} allows it.
 */
function planStops(sim: RpcSim): void {
  const w = sim.world;
  const r = w.rng;
  // Its own generator, so the other faults of a seed stay what they were before it existed.
  const sharp = seededRandom(w.cfg.seed * 31 + 5);
  if (w.cfg.faults.has('crash')) {
    const n = randomInt(r, 1, 3);
    let t = 150 + r() * 400;
    for (let c = 0; c < n && t < w.cfg.faultMs * 0.8; c++) {
      const contactOf = r() < 0.7 ? randomInt(r, 0, Math.max(0, sim.opts.clients - 1)) : -1;
      const any = randomInt(r, 0, w.cfg.members - 1);
      const down = 50 + r() * 500;
      // Half the contact crashes strike right after the contact sends a reply, the moment a
      // reply may leave while the request is not yet safe at the other members.
      const afterReply = contactOf >= 0 && sharp() < 0.5;
      let crashed = -1;
      const crash = (target: number, what: string) => {
        if (!safeToStop(w, target)) {
          w.log(`CRASH ${what} n${target} skipped: the primary partition would lose its majority`);
          return;
        }
        crashed = target;
        w.log(`CRASH ${what} n${target}`);
        w.crash(w.nodes[target]!);
        w.at(w.now + down, () => w.restart(target));
      };
      w.at(t, () => {
        const contact = contactOf >= 0 ? sim.clients[contactOf]?.contactMember : undefined;
        const byContact = contact === undefined ? -1 : w.nodes.findIndex((x) => x.rec.member === contact);
        if (afterReply && byContact >= 0) {
          const until = w.now + 300;
          sim.onReplySent = (member) => {
            if (member !== contact || crashed >= 0) return;
            sim.onReplySent = undefined;
            // At the same instant, once the member's current step (which sent the reply) is over.
            if (w.now <= until)
              w.at(w.now, () => crash(byContact, `contact of c${contactOf} right after a reply`));
          };
          return;
        }
        crash(byContact >= 0 ? byContact : any, byContact >= 0 ? `contact of c${contactOf}` : 'member');
      });
      t += down + 300 + r() * 600;
    }
  }
  if (w.cfg.faults.has('pause')) {
    for (let c = 0; c < 3; c++) {
      const i = randomInt(r, 0, w.cfg.members - 1);
      const ms = 10 + r() * 300;
      w.at(r() * w.cfg.faultMs, () => {
        if (safeToStop(w, i)) w.pause(w.nodes[i]!, ms);
        else w.log(`PAUSE n${i} skipped: the primary partition would lose its majority`);
      });
    }
  }
}

/**
 * `cnap`: each client's process stops once or twice for 0.3–4 s during the fault phase; with
 * `blackout`, also the client whose contact the blackout took (the first such), from the moment
 * it strikes until 0.3–1.8 s after the last crashed member's restart, so it sleeps through the
 * re-founding and wakes with calls of the lost history in flight (its own generator).
 */
function planNaps(sim: RpcSim): void {
  const w = sim.world;
  const r = seededRandom(w.cfg.seed * 193 + 53);
  for (let c = 0; c < sim.opts.clients; c++) {
    const naps = randomInt(r, 1, 2);
    for (let k = 0; k < naps; k++) {
      const t = 200 + r() * w.cfg.faultMs * 0.8;
      const ms = 300 + r() * 3_700;
      w.at(t, () => sim.napClient(`c${c}`, ms));
    }
  }
  if (!w.cfg.faults.has('blackout')) return;
  const extra = 300 + r() * 1_500;
  const watch = () => {
    const b = w.blackouts[0];
    if (!b) {
      if (w.now + 20 < w.cfg.faultMs) w.at(w.now + 20, watch);
      return;
    }
    const gone = new Set(b.crashed.map((i) => w.nodes[i]!.rec.member));
    const c = sim.clients.findIndex((x) => x.contactMember !== undefined && gone.has(x.contactMember));
    const last = Math.max(b.at, ...b.restarts.map((x) => x.at));
    sim.napClient(`c${Math.max(0, c)}`, last + extra - w.now);
  };
  w.at(500, watch);
}

/**
 * `ccut`: two or three times per client, from 200 ms on, the link between the client and the
 * member that is its contact at that moment is cut, from the client to it, from it to the
 * client, or both ways, for 0.3–1.5 s (restored by `faultMs` at the latest); the client reaches
 * every other member, and the contact stays in the group (its own generator).
 */
function planContactCuts(sim: RpcSim): void {
  const w = sim.world;
  const r = seededRandom(w.cfg.seed * 199 + 61);
  for (let c = 0; c < sim.opts.clients; c++) {
    const cuts = randomInt(r, 2, 3);
    let t = 200 + r() * w.cfg.faultMs * 0.3;
    for (let k = 0; k < cuts && t < w.cfg.faultMs; k++) {
      const x = r();
      const way = x < 0.4 ? 'both' : x < 0.7 ? 'toNode' : 'fromNode';
      const len = 300 + r() * 1_200;
      // Without a contact at the moment (between views, before its first call), tried again
      // every 50 ms for up to 0.5 s.
      const strike = (tries: number) => {
        const contact = sim.clients[c]?.contactMember;
        const i = contact === undefined ? -1 : w.nodes.findIndex((n) => n.rec.member === contact);
        if (i < 0) {
          if (tries > 0 && w.now + 50 < w.cfg.faultMs) w.at(w.now + 50, () => strike(tries - 1));
          else w.log(`CCUT c${c} skipped: no contact`);
          return;
        }
        w.cutClientLink(`c${c}`, i, way);
        w.at(Math.min(w.now + len, w.cfg.faultMs), () => w.cutClientLink(`c${c}`, i, way, true));
      };
      w.at(t, () => strike(10));
      t += len + 100 + r() * 500;
    }
  }
}

/**
 * `ciso`: two or three times, from 200 ms on, the member that is a client's contact at the moment
 * (a client drawn each time) is cut off from every other member, both ways, for 0.4–2.5 s (past
 * suspicion: it is excluded and rejoins as the rejoin mode says), while the client still reaches
 * it. Each waits up to 1 s, polling every 5 ms, for an async method (or `audit`) to be running at
 * that contact, so the call straddles its contact's exclusion and rejoin; without one by then it
 * strikes anyway. Skipped when {@link safeToStop} refuses (the rest would lose their majority).
 */
function planContactIsolation(sim: RpcSim): void {
  const w = sim.world;
  const r = seededRandom(w.cfg.seed * 223 + 71);
  const times = randomInt(r, 2, 3);
  let t = 200 + r() * w.cfg.faultMs * 0.3;
  for (let k = 0; k < times && t < w.cfg.faultMs; k++) {
    const c = randomInt(r, 0, Math.max(0, sim.opts.clients - 1));
    const len = 400 + r() * 2_100;
    const strike = (tries: number) => {
      const contact = sim.clients[c]?.contactMember;
      const i = contact === undefined ? -1 : w.nodes.findIndex((n) => n.alive && n.rec.member === contact);
      const busy = i >= 0 && (sim.asyncUntil.get(i) ?? 0) > w.now + 2;
      if ((i < 0 || !busy) && tries > 0 && w.now + 5 < w.cfg.faultMs) {
        w.at(w.now + 5, () => strike(tries - 1));
        return;
      }
      if (i < 0 || !safeToStop(w, i)) {
        w.log(`CISO c${c} skipped: ${i < 0 ? 'no contact' : 'the rest would lose their majority'}`);
        return;
      }
      const others = w.nodes.filter((n) => n.index !== i).map((n) => n.index);
      w.log(`CISO n${i} (contact of c${c}${busy ? ', async running' : ''}) for ${len.toFixed(0)} ms`);
      for (const o of others) w.cutLink(i, o, true);
      w.at(Math.min(w.now + len, w.cfg.faultMs), () => {
        for (const o of others) w.cutLink(i, o, true, true);
      });
    };
    w.at(t, () => strike(200));
    t += len + 300 + r() * 1_500;
  }
}

export async function runRpcScenario(
  cfg: ScenarioConfig,
  opts: Partial<RpcOptions> = {},
  checkers: readonly RpcChecker[] = RPC_CHECKERS,
  /** Called once the faults are planned, before the run (test/sim/forge.ts). */
  setup?: (sim: RpcSim) => void,
): Promise<RpcScenarioResult> {
  const sim = new RpcSim(cfg, { ...DEFAULT_RPC_OPTIONS, ...opts });
  const stops = new Set<Fault>(['crash', 'pause', 'skew', 'flushnap', 'xfer']);
  planFaults(sim.world, new Set([...cfg.faults].filter((f) => !stops.has(f))));
  planStops(sim);
  if (cfg.faults.has('cnap')) planNaps(sim);
  if (cfg.faults.has('ccut')) planContactCuts(sim);
  if (cfg.faults.has('ciso')) planContactIsolation(sim);
  if (cfg.faults.has('flushnap'))
    planFlushNap(
      sim.world,
      () => sequencerNode(sim.world),
      (i) => safeToStop(sim.world, i),
    );
  if (cfg.faults.has('xfer')) planStateTransferCut(sim.world, (i) => safeToStopProvider(sim.world, i));
  const losses = watchMajority(sim.world, cfg.faultMs + 1_000);
  if (cfg.faults.has('skew'))
    planSkew(
      sim.world,
      Array.from({ length: sim.opts.clients }, (_, c) => `c${c}`),
    );
  setup?.(sim);
  await sim.run();
  const all = checkers.flatMap((c) => c.check(sim).map((v) => `${c.name}: ${v}`));
  // After a blackout only the lost history's answers are excused (test/sim/blackout.ts).
  const blackout = sim.world.blackouts[0];
  const excused = (v: string) => (blackout ? blackoutExcuses(v, sim) : expectedUnderLoss(v, sim));
  const expected = losses.length > 0 ? all.filter(excused) : [];
  const reruns = blackoutReruns(sim);
  const violations = [
    ...all.filter((v) => !expected.includes(v)),
    ...reruns.filter((r) => !r.chosen).map((r) => r.line),
    ...unknownWithoutLoss(sim, losses.length > 0),
    ...historyTags(sim),
  ];
  const h = createHash('sha256');
  for (const line of sim.world.trace) h.update(`${line}\n`);
  for (const c of sim.calls) {
    const f = c.final;
    h.update(
      `${c.id} ${c.issuedAt} ${f ? `${f.kind} ${f.at} ${f.kind === 'value' ? JSON.stringify(f.value) : f.error.message}` : '-'}\n`,
    );
  }
  return {
    seed: cfg.seed,
    violations,
    expected: [
      ...expected.map((v) => `expected (majority lost at ${losses[0]!.at.toFixed(0)} ms): ${v}`),
      ...reruns
        .filter((r) => r.chosen)
        .map((r) => `expected (the client chose to rerun it after unknown): ${r.line}`),
    ],
    losses,
    trace: sim.world.trace,
    hash: h.digest('hex'),
    sim,
  };
}

/**
 * What the majority rule lets a run lose once no majority remained: a claim about a request
 * that is in no agreed log (it was ordered, if at all, only in the lineage that stopped, so
 * the survivors' re-founded group does not know it), or about a handler call whose completion
 * (`done`) is in no agreed log: its request was ordered where the re-founded group saw it, its
 * end only in the lineage that stopped, so the group records it `interrupted` while the caller
 * had the holder's reply (RPC seed 900665; docs/protocol.md "Re-founding": what only
 * non-founders held is lost). That needs the run (`sim`): the `done` must have been delivered
 * somewhere, else a holder answered what it never ordered, which still counts. Everything else
 * still counts: two states, a double run, a call that never ends, no progress after the heal.
 */
export function expectedUnderLoss(v: string, sim?: RpcSim): boolean {
  if (!v.startsWith('true-replies: ') && !v.startsWith('true-outcomes: ')) return false;
  if (v.endsWith('agreed: nothing')) return true;
  const lost = /^true-replies: (c\d+:\d+) got value (.*) \(reply\), agreed: value /.exec(v);
  if (lost && sim) return answeredByLostHistory(sim, lost[1]!, lost[2]!);
  const id = /^true-(?:replies|outcomes): (c\d+:\d+)\b/.exec(v)?.[1];
  return id !== undefined && v.endsWith('agreed: interrupted') && sim !== undefined && doneDelivered(sim, id);
}

/**
 * Whether a replica that ordered request `id` in a view outside the agreed log holds `value`
 * (JSON) as its outcome: the reply came from the history that lost its majority, and the request
 * ran again, from another state, in the re-founded group the client reissued it to (RPC seed
 * 501190: the re-founding members had no state of the old history, whose last member was paused
 * and answered the reissue from its table when it woke). What only non-founders held is lost.
 */
function answeredByLostHistory(sim: RpcSim, id: string, value: string): boolean {
  const agreed = new Set(model(sim).chain);
  // The reply itself names the view its request was ordered in: one outside the agreed log is a
  // lost lineage's, even if the member that sent it took the re-founded group's state later
  // (RPC seed 91006065, since 2ffda18 99580693, since 67e07a3 99580192, since c759cae 99583176:
  // the member answered, then rejoined and was given the new group's state, so its table no
  // longer held the value).
  const named = (viewId: number, members: readonly string[]) => `${viewId}[${[...members].sort().join(',')}]`;
  const chain = new Set(
    [...agreed].map((k) => {
      const m = /^(\d+)\.\d+\[(.*)\]$/.exec(k);
      return m ? named(Number(m[1]), m[2]!.split(',')) : k;
    }),
  );
  if (
    sim.sentReplies.some(
      (r) =>
        r.kind === 'reply' &&
        r.id === id &&
        r.error === undefined &&
        r.value === value &&
        !chain.has(named(r.viewId, r.members)),
    )
  )
    return true;
  return sim.incarnations.some((inc) => {
    let view = '';
    let orderedOutside = false;
    for (const item of inc.log) {
      if (item.t === 'view') view = item.key;
      else if (!agreed.has(view) && requestIds(item.payload).includes(id)) orderedOutside = true;
    }
    if (!orderedOutside) return false;
    const o = inc.replica.outcome(id);
    return o.status === 'committed' && 'value' in o && JSON.stringify(o.value) === value;
  });
}

/** The request ids a cast carries (one request, or a contact's batch). */
function requestIds(payload: Uint8Array): string[] {
  try {
    const m = decodeGroupMsg(payload);
    if (m.kind === 'request') return [m.id];
    if (m.kind !== 'requests') return [];
    return m.parts.map((p) => decodeGroupMsg(p)).flatMap((r) => (r.kind === 'request' ? [r.id] : []));
  } catch {
    return [];
  }
}

/** Whether any incarnation delivered a `done` record of request `id`. */
function doneDelivered(sim: RpcSim, id: string): boolean {
  for (const inc of sim.incarnations)
    for (const item of inc.log) {
      if (item.t !== 'msg') continue;
      try {
        const m = decodeGroupMsg(item.payload);
        if (m.kind === 'done' && m.id === id) return true;
      } catch {
        // not a group message the replica would apply: not a completion either
      }
    }
  return false;
}

/** Figures of a run, for the CLI. */
export function rpcStats(sim: RpcSim): Record<string, number> {
  const calls = sim.calls;
  return {
    calls: calls.length,
    replies: calls.filter((c) => c.final?.kind === 'value').length,
    errors: calls.filter((c) => c.final?.kind === 'error').length,
    /** Calls that ended in FailoverError/TimeoutError after every attempt. */
    gaveUp: calls.filter(
      (c) =>
        c.final?.kind === 'error' &&
        ['FAILOVER', 'TIMEOUT'].includes((c.final.error as { code?: string }).code ?? ''),
    ).length,
    /** Calls that ended in OutcomeUnknownError: first sent before a lost history, not sent again. */
    unknown: calls.filter(
      (c) => c.final?.kind === 'error' && (c.final.error as { code?: string }).code === 'OUTCOME_UNKNOWN',
    ).length,
    failovers: calls.reduce((n, c) => n + c.failures.filter((f) => f.code === 'FAILOVER').length, 0),
    timeouts: calls.reduce((n, c) => n + c.failures.filter((f) => f.code === 'TIMEOUT').length, 0),
    outcomes: calls.reduce((n, c) => n + c.outcomes.length, 0),
    reissues: calls.reduce((n, c) => n + c.reissues.length, 0),
    deduplicated: sim.incarnations.reduce((n, i) => n + i.replica.stats().deduplicated, 0),
    /** Requests contacts cast in a batch with others (replicas counted once across rejoins). */
    batched: [...new Set(sim.incarnations.map((i) => i.replica))].reduce((n, r) => {
      const s = r.stats();
      return n + s.requestsCast - s.requestCasts;
    }, 0),
  };
}

/**
 * The new group's views: the agreed log from its root on (the re-founding), without the history a
 * re-founded start state continued (FINDINGS 151's `continued`), whose last casts the founders
 * may lack: a reply sent there for a request the spared member never delivered (RPC seed
 * 392002006: c0:7 answered in view 2 while the spared member was paused, its holders then crashed)
 * is the lost history's, though its view is in the agreed log.
 */
function newGroupViews(sim: RpcSim): string[] {
  const m = model(sim);
  const root = m.refounded ?? m.chain[0];
  return root === undefined ? [] : m.chain.slice(m.chain.indexOf(root));
}

/** The new group's view keys without their epochs (a client packet names id and members only). */
function chainNames(sim: RpcSim): Set<string> {
  return new Set(
    newGroupViews(sim).map((k) => {
      const m = /^(\d+)\.\d+\[(.*)\]$/.exec(k);
      return m ? nameOf(Number(m[1]), m[2]!.split(',')) : k;
    }),
  );
}
const nameOf = (viewId: number, members: readonly string[]) => `${viewId}[${[...members].sort().join(',')}]`;

/**
 * Whether claim `v` (a `true-replies` or `true-outcomes` line) is about an answer the lost history
 * gave: one sent from a view that is not the new group's ({@link newGroupViews}). Answers of the
 * new group are not.
 */
export function fromLostHistory(v: string, sim: RpcSim): boolean {
  const chain = new Set(newGroupViews(sim));
  const names = chainNames(sim);
  const w = sim.world;
  const lostView = (key: string | undefined) => key === undefined || !chain.has(key);
  const sent = (id: string, match: (r: RpcSim['sentReplies'][number]) => boolean) => {
    const found = sim.sentReplies.filter((r) => r.id === id && match(r));
    return found.length > 0 && found.some((r) => !names.has(nameOf(r.viewId, r.members)));
  };
  const result = (r: RpcSim['sentReplies'][number], what: string) =>
    what.startsWith('value ')
      ? r.error === undefined && r.value === what.slice(6)
      : r.error === what.slice(6);
  // `true-outcomes: c0:5 outcome from M at T: committed X, agreed: …`
  const o = /^true-outcomes: (c\d+:\d+) outcome from (\S+) at ([\d.]+): /.exec(v);
  if (o) return lostView(viewAt(w, o[2]!, Number(o[3])));
  // `true-replies: c0:5: M replied X, agreed: …` (`all`/`majority` entries)
  const e = /^true-replies: (c\d+:\d+): (\S+) replied (value |error )?(.*), agreed: /.exec(v);
  if (e)
    return sent(
      e[1]!,
      (r) =>
        // A member's entry may come from its reply or its answer to an outcome query (RPC seed
        // 392002064: n0's entry in c0:7's `all` replies was an outcome packet).
        r.member === e[2] &&
        (e[3] === 'error ' ? r.error?.startsWith(`${e[4]!} `) === true : r.value === e[4]),
    );
  // `true-replies: c0:5 got INTERRUPTED, agreed: …` (a reply, or an `interrupted` outcome packet)
  const i = /^true-replies: (c\d+:\d+) got INTERRUPTED, agreed: /.exec(v);
  if (i) return sent(i[1]!, (r) => r.error?.startsWith('INTERRUPTED ') === true);
  // `true-replies: c0:5 got value X (reply|outcome), agreed: …`
  const g = /^true-replies: (c\d+:\d+) got ((?:value|error) .*) \((reply|outcome)\), agreed: /.exec(v);
  if (!g) return false;
  const [, id, what, via] = g as unknown as [string, string, string, string];
  if (via === 'outcome') {
    const c = sim.calls.find((x) => x.id === id);
    const a = c?.outcomes.filter((x) => x.status === 'committed').at(-1);
    return a !== undefined && lostView(viewAt(w, a.member, a.at));
  }
  // A call settled by a reply, or by an outcome packet its invoke or reissue took.
  return sent(id, (r) => result(r, what));
}

/**
 * The majority-loss excuse (`expectedUnderLoss`) for a blackout seed: only for what the lost
 * history answered ({@link fromLostHistory}); the new group's answers count as anywhere else.
 */
export function blackoutExcuses(v: string, sim: RpcSim): boolean {
  return expectedUnderLoss(v, sim) && fromLostHistory(v, sim);
}

/**
 * `blackout-rerun`: calls that ran in a process the blackout killed and again in the agreed log
 * after it. The client first sent them before the group's history was lost, so the new group's
 * `not-found` promised nothing, and the client must not send them again (docs/rpc.md, "Recovering
 * a failed call": it answers `unknown`); a violation unless the client chose `reissue(id, {
 * rerun: true })` before that run (`chosen`; FINDINGS 222 measured 70 in 200 seeds before).
 */
export function blackoutReruns(sim: RpcSim): { id: string; line: string; chosen: boolean }[] {
  const b = sim.world.blackouts[0];
  if (!b) return [];
  const m = model(sim);
  // Each request the crashed incarnations ran, and when the last of those that ran it crashed.
  const lost = new Map<string, number>();
  for (const inc of sim.incarnations) {
    const crashed = inc.rec.crashedAt;
    if (crashed === null || crashed < b.at || crashed > b.at + 5) continue;
    for (const id of inc.allRuns.keys()) lost.set(id, Math.max(lost.get(id) ?? crashed, crashed));
  }
  const out: { id: string; line: string; chosen: boolean }[] = [];
  for (const [id, crashed] of [...lost].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const f = m.first.get(id);
    // The copy the agreed log ran is another only if it was first delivered after the last of
    // them crashed: one delivered while they ran (the blackout's crashes spread over 4 ms) is the
    // same delivery, which the spared member's history kept (RPC seed 392000340: c1:3 at
    // 1194.6 ms in view 2 at the spared member and at one that crashed 1.7 ms later).
    if (!f || f.at <= crashed) continue;
    const c = sim.calls.find((x) => x.id === id);
    const nf = c?.outcomes.filter((a) => a.status === 'not-found' && a.at < f.at).length ?? 0;
    const unknown = c?.outcomes.filter((a) => a.status === 'unknown' && a.at < f.at).length ?? 0;
    out.push({
      id,
      chosen: c?.reruns.some((at) => at <= f.at) ?? false,
      line: `blackout-rerun: ${id} ran before the blackout at ${b.at.toFixed(0)} ms and again after it (issue ${f.issue}, delivered at ${f.at.toFixed(1)}; ${nf} not-found and ${unknown} unknown answers before)`,
    });
  }
  return out;
}

/**
 * `history-tag`: a request's first copy in the agreed log was cast in a history none of the
 * copies its client sent until then named. Every client copy of a call carries the history it
 * was first sent in (`CallPacket.history`), and a member of another history does not order it
 * (docs/rpc.md, "When the whole group loses its majority"): so a request the client first sent
 * into a history the group later lost (a blackout, a lost majority, a lineage that yielded) never
 * runs in the group that replaced it, unless the client sent it again as that group's (`reissue(id,
 * { rerun: true })`). The blackout rule (`blackout-rerun`) sees this only after a blackout, and only
 * for a request that did run in the lost history; this one after any re-founding, for any copy.
 * Not judged: a request whose client sent a copy naming no history (it had heard none), a copy
 * its caster did not make itself (a cut-off incarnation's cast sent by the next one: refused as
 * impersonated), a delivery at a member with no history number.
 */
export function historyTags(sim: RpcSim): string[] {
  const agreed = new Set(model(sim).chain);
  const first = new Map<string, { at: number; history: number | undefined; member: string }>();
  for (const inc of sim.incarnations) {
    let view = '';
    for (const item of inc.log) {
      if (item.t === 'view') {
        view = item.key;
        continue;
      }
      if (!agreed.has(view)) continue;
      for (const r of requestsCast(item.payload)) {
        if (r.contact !== item.sender) continue;
        const f = first.get(r.id);
        if (!f || item.at < f.at)
          first.set(r.id, { at: item.at, history: item.history, member: inc.rec.member });
      }
    }
  }
  const out: string[] = [];
  for (const [id, f] of [...first].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (f.history === undefined) continue;
    const tags = (sim.tagsSent.get(id) ?? []).filter((t) => t.at <= f.at);
    if (tags.length === 0 || tags.some((t) => t.tag === undefined || t.tag === f.history)) continue;
    out.push(
      `history-tag: ${id} first ordered in the agreed log at ${f.at.toFixed(1)} (${f.member}, history ${f.history}), but its client's copies named only history ${tags.map((t) => t.tag).join(', ')}`,
    );
  }
  return out;
}

/** The requests a cast carries (one request, or a contact's batch), with who cast each. */
function requestsCast(payload: Uint8Array): { id: string; contact: string }[] {
  try {
    const m = decodeGroupMsg(payload);
    if (m.kind === 'request') return [{ id: m.id, contact: m.contact }];
    if (m.kind !== 'requests') return [];
    return m.parts
      .map((p) => decodeGroupMsg(p))
      .flatMap((r) => (r.kind === 'request' ? [{ id: r.id, contact: r.contact }] : []));
  } catch {
    return [];
  }
}

/**
 * `unknown-after-loss`: the client says a request's history was lost (an `unknown` outcome, an
 * `OutcomeUnknownError`) only in a run where the group lost its majority (and so may have been
 * founded again); in any other run the claim is false, and the client withheld a reissue it could
 * have made.
 */
export function unknownWithoutLoss(sim: RpcSim, lostMajority: boolean): string[] {
  if (lostMajority) return [];
  const out: string[] = [];
  for (const c of sim.calls) {
    for (const a of c.outcomes)
      if (a.status === 'unknown')
        out.push(
          `unknown-after-loss: ${c.id} outcome from ${a.member} at ${a.at.toFixed(1)}: unknown, and no majority was lost`,
        );
    const e = c.final?.kind === 'error' ? (c.final.error as { code?: string }) : undefined;
    if (e?.code === 'OUTCOME_UNKNOWN')
      out.push(
        `unknown-after-loss: ${c.id} ended in OUTCOME_UNKNOWN at ${c.final!.at.toFixed(1)}, and no majority was lost`,
      );
  }
  return out;
}
