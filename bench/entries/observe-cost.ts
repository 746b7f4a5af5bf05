// observe: what observability costs (issue 14: at most 5 % of throughput under the 64-outstanding
// load). Three bank replica processes (bench/children/observed-replica.ts --paired), each hosting a
// replica of two groups: `bank`, with no Observer, and `bank-observed`, given an Observer logging at
// info (the launcher's default) and a metricsServer with peer polling (as `troupe serve
// --metrics-port` does), whose `/metrics` is scraped every second while its round runs. One client
// process (bench/children/rpc-client.ts) keeps 64 ordered deposits in flight, in rounds that
// alternate between the groups: "off" calls `bank`, "on" calls `bank-observed`. Each side is what
// users run (no Observer: no event object built; an Observer given to `joinReplica`: request steps
// as arguments), the rounds of a pair run back to back in the same processes, and neither pays for
// forming a group; the idle group's heartbeats cost both sides alike. (Until session 39 one group
// switched a sink of its own between rounds, so both sides built every event object and neither
// was what users run: docs/performance.md, "Observer cost".) Earlier A/Bs that formed a group per
// run on a machine at load 25 measured mostly the formation and fail-overs
// (docs/observability.md, "Cost").
//
// The two entries share one session (the baseline entry runs it; the runner always runs a baseline
// before the entries compared to it): "metrics off" reports the median off round, "metrics on" that
// figure ÷ the median pair's on ÷ off (each pair's rounds ran back to back, after unmeasured
// warm-up rounds), so the runner's ratio is on ÷ off. The figure is calls per replica CPU-second
// (calls ÷ the user + system time of the 3 replica processes from /proc), not calls per wall
// second: CPU-bound, throughput goes as 1 / CPU per call, so the ratio is what observability
// costs in throughput; and while on a shared host the wall rate of one round differs from the
// next by as much as the 5 % sought (a neighbour takes the CPUs for a second), the CPU a replica
// spends per call moves far less with the load. Wall calls/s are in the notes.
import type { Child, ChildEvent } from 'troupe/testkit';
import { cpuMs } from '../lib/proc.js';
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';
import { PIPELINE } from './floor-tcp-rr.js';

const REPLICA = script('bench/children/observed-replica.ts');
const CLIENT = script('bench/children/rpc-client.ts');
const REPLICAS = 3;
const SCRAPE_MS = 1_000;
const CALL_TIMEOUT_MS = 5_000;
/** Unmeasured rounds run at least this long (see `interleaved`): each group gets half of it, and a
 * group under 64 calls in flight takes 8–10 s of its own load to reach its pace. */
const WARMUP_MS = 24_000;
interface Round {
  rate: number;
  ops: number;
  seconds: number;
  cpuUsPerCall: number;
  errors: number;
  p50: number;
}

async function startGroup(ctx: BenchContext): Promise<Child[]> {
  const replicas = await Promise.all(
    Array.from({ length: REPLICAS }, (_, i) =>
      ctx.procs.start(REPLICA, {
        name: `bank-observed-${i + 1}`,
        args: ['--paired'],
        ready: 'ready',
        readyTimeoutMs: 30_000,
      }),
    ),
  );
  const joined = await Promise.all(
    replicas.map((r) =>
      r.request(
        { cmd: 'join', seeds: seedsOf(replicas, false), observedSeeds: seedsOf(replicas, true) },
        'joined',
        15_000,
      ),
    ),
  );
  const size = (v: unknown): number => (v as { members: string[] } | undefined)?.members.length ?? 0;
  const full =
    (group: string) =>
    (e: ChildEvent): boolean =>
      e.event === 'view' && e.group === group && (e.members as string[]).length === REPLICAS;
  await Promise.all(
    replicas.flatMap((r, i) => [
      size(joined[i]!.view) === REPLICAS ? undefined : r.waitFor(full('bank'), 10_000),
      size(joined[i]!.observedView) === REPLICAS ? undefined : r.waitFor(full('bank-observed'), 10_000),
    ]),
  );
  return replicas;
}

/** The seed addresses of the group each side calls: `bank` (off) or `bank-observed` (on). */
function seedsOf(replicas: Child[], observed: boolean): string[] {
  return replicas.map(
    (r) => r.events.find((e) => e.event === 'ready')![observed ? 'observedAddress' : 'address'] as string,
  );
}

/** Opens (on) or closes every observed replica's metricsServer; returns their URLs when on. */
async function observe(replicas: Child[], on: boolean): Promise<string[]> {
  const answers = await Promise.all(
    replicas.map((r) =>
      r.request({ cmd: 'observe', on }, (e) => e.event === 'observing' && e.on === on, 10_000),
    ),
  );
  return on ? answers.map((a) => a.url as string) : [];
}

async function round(
  ctx: BenchContext,
  client: Child,
  replicas: Child[],
  on: boolean,
  seconds: number,
): Promise<Round> {
  const urls = await observe(replicas, on);
  const seeds = seedsOf(replicas, on);
  const cpu0 = replicas.reduce((a, r) => a + (cpuMs(r.pid) ?? 0) * 1000, 0);
  const scraper = setInterval(() => {
    for (const u of urls)
      fetch(`${u}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
  }, SCRAPE_MS);
  try {
    const r = await client.request(
      {
        cmd: 'run',
        group: on ? 'bank-observed' : 'bank',
        seeds,
        mode: 'first',
        outstanding: PIPELINE,
        count: ctx.limits.maxOps,
        seconds,
        warmup: PIPELINE * 4,
        warmupSeconds: Math.min(0.5, seconds / 2),
        timeoutMs: CALL_TIMEOUT_MS,
      },
      (e) => e.event === 'result' || e.event === 'error',
      (seconds + 10) * 1000 + 2 * CALL_TIMEOUT_MS,
    );
    if (r.event === 'error') throw new Error(`rpc-client: ${String(r.message)}`);
    const ops = r.ops as number;
    // A round where nothing completed (every call failed over on a starved machine) counts as 0:
    // dropping it would hide what the load did to that side.
    const cpu1 = replicas.reduce((a, x) => a + (cpuMs(x.pid) ?? 0) * 1000, 0);
    const errors = Object.values(r.errors as Record<string, number>).reduce((a, b) => a + b, 0);
    return {
      rate: ops > 0 ? ops / (r.seconds as number) : 0,
      ops,
      seconds: r.seconds as number,
      // Warm-up and drain are in the CPU window too, alike for both sides.
      cpuUsPerCall: ops > 0 ? (cpu1 - cpu0) / ops : Number.POSITIVE_INFINITY,
      errors,
      p50: ops > 0 ? (r.latencyUs as { p50: number }).p50 : Number.NaN,
    };
  } finally {
    clearInterval(scraper);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

let session: Promise<{ off: Round[]; on: Round[] }> | undefined;

/** The group and its interleaved rounds; run once per bench run (by whichever entry comes first). */
function interleaved(ctx: BenchContext): Promise<{ off: Round[]; on: Round[] }> {
  session ??= (async () => {
    const [replicas, client] = await Promise.all([
      startGroup(ctx),
      ctx.procs.start(CLIENT, { name: 'rpc-client', ready: 'ready', readyTimeoutMs: 30_000 }),
    ]);
    // TROUPE_BENCH_OBSERVE_PAIRS: more pairs for a tighter median on a noisy machine.
    const pairs = ctx.quick ? 1 : Number(process.env.TROUPE_BENCH_OBSERVE_PAIRS ?? 3);
    // Six rounds share the entry's time budget.
    const seconds = Math.max(0.5, ctx.limits.maxSeconds / 2);
    const result = { off: [] as Round[], on: [] as Round[] };
    // Unmeasured rounds first, alternating sides, at least two of each and for at least
    // WARMUP_MS. Fresh replica processes ran each round faster than the one before (JIT, the
    // heap's growth: a group under 64 calls in flight takes 8–10 s to reach its pace,
    // docs/performance.md "Warm-up, measured per second"), and the order off,on,on,off,off,on
    // puts the off median one round later than the on median: that trend alone read as "on"
    // costing 2× (docs/observability.md).
    const warmStart = performance.now();
    for (let k = 0; k < 4 || performance.now() - warmStart < WARMUP_MS; k++) {
      const on = k % 2 === 1;
      const r = await round(ctx, client, replicas, on, seconds);
      ctx.log(
        `observe: warm-up ${on ? 'on' : 'off'}: ${Math.round(r.cpuUsPerCall)} µs replica CPU/call (not counted)`,
      );
    }
    for (let i = 0; i < pairs; i++) {
      // Alternate which goes first, so neither always follows the other.
      const order = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const which of order) {
        const r = await round(ctx, client, replicas, which === 'on', seconds);
        result[which].push(r);
        ctx.log(
          `observe: round ${i + 1} ${which}: ${Math.round(r.rate)} calls/s, ${Math.round(r.cpuUsPerCall)} µs replica CPU/call`,
        );
      }
    }
    return result;
  })();
  return session;
}

/** Replica CPU per call on ÷ off of each pair (the two rounds of a pair ran back to back). */
const pairRatios = (on: Round[], off: Round[]): number[] =>
  on.flatMap((r, i) => (off[i] ? [r.cpuUsPerCall / off[i]!.cpuUsPerCall] : []));

function measurement(rounds: Round[], other: Round[], which: 'off' | 'on'): Measurement {
  const rate = median(rounds.map((r) => r.rate));
  // "on": the off median's CPU per call times the median pair's on ÷ off, not the on median:
  // the rounds still speed up through a session, and the medians of the two sides fall in
  // different rounds; a pair's two rounds are neighbours, so its ratio carries little trend.
  const cpu =
    which === 'off'
      ? median(rounds.map((r) => r.cpuUsPerCall))
      : median(other.map((r) => r.cpuUsPerCall)) * median(pairRatios(rounds, other));
  const notes: Record<string, string | number> = {
    'calls/s (wall)': Math.round(rate),
    'calls/s per round': rounds.map((r) => Math.round(r.rate)).join(' / '),
    'replica CPU µs/call per round': rounds.map((r) => Math.round(r.cpuUsPerCall)).join(' / '),
    'p50 µs': Math.round(median(rounds.map((r) => r.p50))),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
  };
  if (which === 'on') {
    notes['wall calls/s on÷off'] = (rate / median(other.map((r) => r.rate))).toFixed(3);
    // Each pair's on and off ran back to back: their ratio is the least touched by a trend.
    notes['CPU/call on÷off per pair'] = pairRatios(rounds, other)
      .map((x) => x.toFixed(2))
      .join(' / ');
  }
  return {
    primary: 'rate',
    // Median CPU per call, inverted so that higher is better like every rate of the table.
    rate: { value: Number.isFinite(cpu) ? 1e6 / cpu : 0, unit: 'calls per replica CPU-s' },
    ops: rounds.reduce((a, r) => a + r.ops, 0),
    seconds: rounds.reduce((a, r) => a + r.seconds, 0),
    notes,
  };
}

const SETUP =
  `${REPLICAS} bank replica processes, a non-member client process keeping ${PIPELINE} ordered deposits ` +
  'in flight (reply first), rounds alternating between a group without and one with an Observer in the same processes';

export const observeOff: BenchEntry = {
  name: `observe: metrics off, ${PIPELINE} outstanding`,
  description: `${SETUP}; "off" rounds call the group with no Observer and no metrics server; figure = calls per replica CPU-second (1 / the median round's replica CPU per call).`,
  // The whole session runs under this entry: forming the group, the warm-up rounds and the pairs.
  timeoutMs: 60_000 + WARMUP_MS + 8_000 * Number(process.env.TROUPE_BENCH_OBSERVE_PAIRS ?? 3),
  run: async (ctx) => {
    const s = await interleaved(ctx);
    return measurement(s.off, s.on, 'off');
  },
};

export const observeOn: BenchEntry = {
  name: `observe: metrics on, ${PIPELINE} outstanding`,
  description:
    `${SETUP}; "on" rounds call the group whose replicas were given an Observer logging at info and run a ` +
    `metricsServer with peer polling, each /metrics scraped every ${SCRAPE_MS} ms; ` +
    'figure = calls per replica CPU-second: the "off" figure ÷ the median pair\'s CPU per call on ÷ off (≥ 0.95 × is the 5 % target).',
  baseline: against(observeOff.name, 'metrics off'),
  run: async (ctx) => {
    const s = await interleaved(ctx);
    return measurement(s.on, s.off, 'on');
  },
};

export default [observeOff, observeOn];
