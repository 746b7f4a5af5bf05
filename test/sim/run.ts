/**
 * One seed of one simulator mode, as the CLI (test/sim/cli.ts) and the long run
 * (test/sim/long.ts) both run it, with the command that replays it.
 */
import { createHash } from 'node:crypto';
import { parseSpec } from '../../runtime/stack/builder.js';
import { NAK_CHECKERS } from './checkers.js';
import { GROUP_CHECKERS } from './group-checkers.js';
import { DELIVERIES, type DeliveryMode } from './network.js';
import { rpcConfig, rpcStats, runRpcScenario } from './rpc-scenario.js';
import { defaultConfig, GMS_SIM_OPTIONS, GROUP_STACK, groupConfig, runScenario } from './scenario.js';
import { UsageError } from './usage.js';
import { ALL_FAULTS, EXTRA_FAULTS, type Fault, type World } from './world.js';

export interface SimOptions {
  rpc: boolean;
  /** `A..B` as given: the member count of a seed is `A + seed % (B - A + 1)`. */
  members: string;
  faults: readonly Fault[];
  messages: number;
  stack: string;
  calls: number;
  /** RPC mode: concurrent call sequences per client (more lanes, larger contact batches). */
  lanes: number;
  timeout: number;
  /** RPC mode: client processes (default 2; c0 is the one `autoReissue` names). */
  clients?: number;
  /** A fixed delivery mode, or `seed`: chosen per seed ({@link deliveryOf}). */
  delivery: DeliveryMode | 'seed';
  /** `damped`: `same`, with rejoins damped as `Group` damps them ({@link SIM_DAMP_MS}). */
  rejoin: 'new' | 'same' | 'damped';
  /** RPC mode: async `append` calls, `all`/`majority` reply modes, client c0 with autoReissue. */
  async: boolean;
  replies: boolean;
  autoReissue: boolean;
  /** RPC mode: members acquire and release the `audit` lock while its calls run (they wait). */
  locks?: boolean;
  /**
   * The group stack's detection timings: the simulator's short ones (`sim`: suspectMs 300, so
   * the failure detector acts before seq's 500 ms stall rule) or the library's defaults
   * (`library`: suspectMs 1000, so the stall and pace rules act first, as in production).
   */
  timings: 'sim' | 'library';
  /**
   * Group mode's workload: `mixed` (default) draws each cast's QoS (half of them total order with
   * resilience `none`, the rest resilient or FIFO); `none` casts only total order with resilience
   * `none`, the stream of the 1 KB bench whose Acks wait on `ackMs` (FINDINGS 33).
   */
  qos?: 'mixed' | 'none';
  /**
   * Group mode: each cast carries up to this many bytes of padding (drawn per cast), and frag
   * cuts messages into {@link PAD_FRAG_SIZE}-byte fragments: large casts, fragmented and
   * reassembled under the faults, with fc's credits spent in bytes.
   */
  pad?: number;
  /** Group mode: each planned cast is a burst of 1..burst casts at one instant (World's `burst`). */
  burst?: number;
  /** Members keep their last view on disk: a restarted process remembers it (World's `persist`). */
  persist?: boolean;
  /** One-way latency of every packet, in ms (World's `latencyMs`): a wide-area network. */
  latency?: number;
  trace: boolean;
}

/** frag's fragment size under `--pad` (its default, 60,000, never fragments the simulator's casts). */
export const PAD_FRAG_SIZE = 1_024;

export interface SeedResult {
  seed: number;
  violations: string[];
  /** RPC mode: expected unavailability (test/sim/majority.ts), not violations. */
  expected: string[];
  /** RPC mode: the run lost its majority at some point (test/sim/majority.ts). */
  lostMajority: boolean;
  /** RPC mode's figures (calls, replies, fail-overs, ...). */
  stats: Record<string, number>;
  trace: string[];
  /**
   * SHA-256 of everything the run recorded: each incarnation's casts, deliveries, views,
   * crash, partition, restore and errors, the RPC calls' endings, the trace (when traced), the
   * violations and the figures. Equal digests, equal runs (the simulator's speed-ups must keep
   * every seed's digest: `npm run sim:long -- --digest 8`).
   */
  digest(): string;
}

function digestOf(w: World, r: Omit<SeedResult, 'digest'>, rpcHash?: string): string {
  const h = createHash('sha256');
  for (const i of w.incarnations)
    h.update(
      `${JSON.stringify([i.node, i.member, i.startedAt, i.crashedAt, i.partitionedAt, i.restoredAt, i.state, i.casts, i.errors, i.views, i.stats()])}\n` +
        `${JSON.stringify(i.delivered)}\n`,
    );
  h.update(`${JSON.stringify([r.violations, r.expected, r.lostMajority, r.stats, rpcHash ?? null])}\n`);
  for (const line of r.trace) h.update(`${line}\n`);
  return h.digest('hex');
}

export function range(text: string): [number, number] {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`expected N or A..B, got '${text}'`);
  const a = Number(m[1]);
  return [a, m[2] === undefined ? a : Number(m[2])];
}

export function parseFaults(text: string): Fault[] {
  return text
    .split(',')
    .filter((f) => f.length > 0)
    .map((f) => {
      if (!([...ALL_FAULTS, ...EXTRA_FAULTS] as readonly string[]).includes(f))
        throw new UsageError(`unknown fault '${f}'`);
      return f as Fault;
    });
}

/** The library's own detection timings (gms and seq defaults), founding as fast as the sim's. */
const LIBRARY_TIMINGS = { gms: { bootstrapMs: 300 } };

/** `npm run sim`'s defaults (test/sim/cli.ts): what a seed pinned with its command starts from. */
export const SIM_DEFAULTS: SimOptions = {
  rpc: false,
  members: '5',
  faults: parseFaults('loss,dup,reorder,delay'),
  messages: 40,
  stack: GROUP_STACK,
  calls: 12,
  lanes: 2,
  timeout: 1500,
  delivery: 'seed',
  rejoin: 'new',
  async: false,
  replies: false,
  autoReissue: false,
  timings: 'sim',
  trace: false,
};

/** The delivery mode of `seed` under `--delivery seed`: a hash bit, not correlated with members. */
export function deliveryOf(mode: DeliveryMode | 'seed', seed: number): DeliveryMode {
  if (mode !== 'seed') return mode;
  return DELIVERIES[(Math.imul(seed, 0x9e3779b1) >>> 31) & 1]!;
}

/** `--rejoin damped`: `rejoinDampMs` on the simulator's time scale (the library's 5 s default
 * against its 1 s `suspectMs`; the simulator's timings are about a third of those). */
export const SIM_DAMP_MS = 2_000;

export function membersOf(members: string, seed: number): number {
  const [lo, hi] = range(members);
  return lo + (seed % (hi - lo + 1));
}

export async function runSeed(o: SimOptions, seed: number): Promise<SeedResult> {
  const members = membersOf(o.members, seed);
  const common = {
    delivery: deliveryOf(o.delivery, seed),
    rejoin: o.rejoin === 'new' ? ('new' as const) : ('same' as const),
    ...(o.rejoin === 'damped' ? { rejoinDampMs: SIM_DAMP_MS } : {}),
    ...(o.persist ? { persist: true } : {}),
    ...(o.latency ? { latencyMs: o.latency } : {}),
    trace: o.trace,
    // Detection timings apply to the group stack (RPC mode runs it too), not to a stream stack.
    ...(o.timings === 'library' && o.stack === GROUP_STACK
      ? { stack: parseSpec(GROUP_STACK, LIBRARY_TIMINGS) }
      : {}),
    // RPC mode's replicas run the stack given (a Group's `stack` option), with the sim's timings.
    ...(o.rpc && o.stack !== GROUP_STACK ? { stack: parseSpec(o.stack, GMS_SIM_OPTIONS) } : {}),
  };
  if (o.rpc) {
    const cfg = { ...rpcConfig(seed, members, o.faults), ...common };
    const r = await runRpcScenario(cfg, {
      callsPerLane: o.calls,
      lanes: o.lanes,
      callTimeoutMs: o.timeout,
      ...(o.clients !== undefined && o.clients !== 2 ? { clients: o.clients } : {}),
      ...(o.async ? { asyncShare: 0.25 } : {}),
      ...(o.replies ? { replyShare: 0.3 } : {}),
      ...(o.autoReissue ? { autoReissue: 'mixed' as const } : {}),
      ...(o.locks ? { lockMoves: true } : {}),
    });
    const out = {
      seed,
      violations: r.violations,
      expected: r.expected,
      lostMajority: r.losses.length > 0,
      stats: rpcStats(r.sim),
      trace: r.trace,
    };
    return { ...out, digest: () => digestOf(r.sim.world, out, r.hash) };
  }
  // A stack with membership is checked as a group; a bare stream stack by the stream checkers.
  const group = o.stack.split(':').includes('gms');
  const base = group ? groupConfig(seed, members, o.faults) : defaultConfig(seed, members, o.faults);
  const timings = o.timings === 'library' && o.stack === GROUP_STACK ? LIBRARY_TIMINGS : GMS_SIM_OPTIONS;
  const pad = group && o.pad ? o.pad : 0;
  const cfg = {
    ...base,
    ...(o.stack === GROUP_STACK ? {} : { stack: parseSpec(o.stack, group ? GMS_SIM_OPTIONS : {}) }),
    ...(o.qos === 'none' ? { qos: { order: 'total' as const, resilience: 'none' as const } } : {}),
    messages: o.messages,
    ...(group && o.burst ? { burst: o.burst } : {}),
    ...common,
    // After `common`, whose library timings name a stack of their own: the fragment size joins them.
    ...(pad > 0
      ? { stack: parseSpec(o.stack, { ...timings, frag: { fragSize: PAD_FRAG_SIZE } }), padBytes: pad }
      : {}),
  };
  const r = runScenario(cfg, group ? GROUP_CHECKERS : NAK_CHECKERS);
  const out = {
    seed,
    violations: r.violations,
    expected: [],
    lostMajority: false,
    stats: {},
    trace: r.trace,
  };
  return { ...out, digest: () => digestOf(r.world, out) };
}

/** The command that replays `seed` alone, traced. */
export function replayCommand(o: SimOptions, seed: number): string {
  const flags = [
    o.rpc ? '--rpc' : '',
    `--seed ${seed}`,
    `--members ${o.members}`,
    `--faults ${o.faults.join(',')}`,
    o.rpc ? `--calls ${o.calls} --lanes ${o.lanes} --timeout ${o.timeout}` : `--messages ${o.messages}`,
    o.rpc && o.clients !== undefined && o.clients !== 2 ? `--clients ${o.clients}` : '',
    o.rpc && o.stack === GROUP_STACK ? '' : `--stack ${o.stack}`,
    `--delivery ${deliveryOf(o.delivery, seed)}`,
    o.rejoin !== 'new' ? `--rejoin ${o.rejoin}` : '',
    o.async ? '--async' : '',
    o.replies ? '--replies' : '',
    o.autoReissue ? '--auto-reissue' : '',
    o.locks ? '--locks' : '',
    // Only where it applies (see `common`): the command line refuses it with a stack of its own.
    o.timings === 'library' && o.stack === GROUP_STACK ? '--timings library' : '',
    o.qos === 'none' ? '--qos none' : '',
    o.pad ? `--pad ${o.pad}` : '',
    o.burst ? `--burst ${o.burst}` : '',
    o.persist ? '--persist' : '',
    o.latency ? `--latency ${o.latency}` : '',
    '--trace',
  ];
  return `npm run sim -- ${flags.filter(Boolean).join(' ')}`;
}

/** The checker of a violation line (`name: text`). */
export const checkerOf = (v: string) => v.slice(0, v.indexOf(':'));

/** For the report: the first violation of each checker, and how many each had. */
export function summarize(violations: readonly string[]): string[] {
  const first = new Map<string, { line: string; n: number }>();
  for (const v of violations) {
    const c = checkerOf(v);
    const e = first.get(c);
    if (e) e.n++;
    else first.set(c, { line: v, n: 1 });
  }
  return [...first.values()].map((e) => (e.n > 1 ? `${e.line} (+${e.n - 1} more)` : e.line));
}
