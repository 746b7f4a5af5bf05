// rpc: Birman's slow-receiver experiment (issue 16) — 4 bank replica processes over UDP on
// 127.0.0.1, a non-member client process keeping 32 deposits in flight through one contact
// replica, and one replica made slow but alive by SIGSTOP/SIGCONT duty cycles: a member that is
// neither the contact nor the sequencer, or the sequencer itself (the view's rank 0). Each figure
// is compared to the steady entry (no replica slowed) measured in the same run.
//
// Every entry forms its own group (the runner stops every process after each entry), and the duty
// cycle runs here, in the runner, for the whole of the client's warm-up and measured window.
// Processes get a minute to start: on a loaded 2-CPU machine tsx alone can take 20 s.
import type { ChildEvent } from 'troupe/testkit';
import { startBankGroup } from '../lib/bank-group.js';
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { LatencySummary } from '../lib/stats.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';
import { tcpThroughput } from './floor-tcp-rr.js';

const CLIENT = script('bench/children/rpc-client.ts');
const REPLICAS = 4;
const IN_FLIGHT = 32;
const CALL_TIMEOUT_MS = 5_000;
/** Five processes that may take a minute to start each on a loaded machine, then the run. */
const SLACK_MS = 90_000;

type Target = 'member' | 'sequencer';
interface Slowness {
  target: Target;
  stopMs: number;
  runMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `signal`; false once the process is gone (the runner stops an entry that overran). */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** SIGSTOP/SIGCONT `pid` (stopped `stopMs`, running `runMs`) until `cycle.on` turns false. */
async function dutyCycle(pid: number, s: Slowness, cycle: { on: boolean }): Promise<void> {
  try {
    while (cycle.on && signal(pid, 'SIGSTOP')) {
      await sleep(s.stopMs);
      if (!signal(pid, 'SIGCONT')) return;
      await sleep(s.runMs);
    }
  } finally {
    signal(pid, 'SIGCONT');
  }
}

async function slowGroup(ctx: BenchContext, slow: Slowness | undefined): Promise<Measurement> {
  const [{ ranked }, client] = await Promise.all([
    // Five processes that may take a minute to start each on a loaded machine.
    startBankGroup(ctx, { replicas: REPLICAS, name: 'slow-replica', readyTimeoutMs: 60_000 }),
    ctx.procs.start(CLIENT, { name: 'rpc-client', ready: 'ready', readyTimeoutMs: 60_000 }),
  ]);
  // Rank 0 is the sequencer; the client talks to rank 1; rank 3 is the slow member.
  const contact = ranked[1]!;
  const victim = slow ? (slow.target === 'sequencer' ? ranked[0]! : ranked[3]!) : undefined;
  const viewCount = (): number =>
    ranked.reduce((a, r) => a + r.events.filter((e) => e.event === 'view').length, 0);
  const viewsBefore = viewCount();
  const cycle = { on: true };
  const cycling = victim && slow ? dutyCycle(victim.pid, slow, cycle) : Promise.resolve();
  let r: ChildEvent;
  try {
    r = await client.request(
      {
        cmd: 'run',
        seeds: [contact.events.find((e) => e.event === 'ready')!.address as string],
        mode: 'first',
        outstanding: IN_FLIGHT,
        count: ctx.limits.maxOps,
        seconds: ctx.limits.maxSeconds,
        warmup: 2_000,
        warmupSeconds: Math.min(0.5, ctx.limits.maxSeconds / 2),
        timeoutMs: CALL_TIMEOUT_MS,
      },
      (e) => e.event === 'result' || e.event === 'error',
      (ctx.limits.maxSeconds + 10) * 1000 + 2 * CALL_TIMEOUT_MS,
    );
  } finally {
    cycle.on = false;
    await cycling;
  }
  if (r.event === 'error') throw new Error(`rpc-client: ${String(r.message)}`);
  if (!((r.ops as number) > 0))
    throw new Error(`no call completed in the measured window; errors ${JSON.stringify(r.errors)}`);
  const latency = r.latencyUs as LatencySummary;
  const errors = Object.values(r.errors as Record<string, number>).reduce((a, b) => a + b, 0);
  // Who left the view: the slow replica (by the lag bound, or the sequencer stall bound) or,
  // what must never happen, a healthy one.
  const removed = new Set(
    ranked.flatMap((c) => c.events.filter((e) => e.event === 'view').flatMap((e) => e.failed as string[])),
  );
  // Every incarnation of the slow replica (a rejoin makes a new member id).
  const victimSelves = new Set(
    (victim?.events ?? []).flatMap((e) => (typeof e.self === 'string' ? [e.self] : [])),
  );
  const healthyRemoved = [...removed].filter((m) => !victimSelves.has(m)).length;
  return {
    primary: 'rate',
    rate: { value: (r.ops as number) / (r.seconds as number), unit: 'calls/s' },
    latency,
    ops: r.ops as number,
    seconds: r.seconds as number,
    notes: {
      'p50 µs': Math.round(latency.p50),
      'p99 µs': Math.round(latency.p99),
      errors,
      'view changes': viewCount() - viewsBefore,
      'slow one removed': [...removed].some((m) => victimSelves.has(m)) ? 'yes' : 'no',
      'healthy removed': healthyRemoved,
    },
  };
}

const SETUP =
  `a non-member client keeps ${IN_FLIGHT} bank.deposit calls in flight through one contact of ` +
  `${REPLICAS} bank replica processes (UDP on 127.0.0.1)`;

export const steady: BenchEntry = {
  name: 'rpc: slow receiver, steady',
  description: `${SETUP}, no replica slowed; figure = completed calls per second, vs the tcp rr throughput floor.`,
  baseline: against(tcpThroughput.name, 'tcp rr floor'),
  slackMs: SLACK_MS,
  run: (ctx) => slowGroup(ctx, undefined),
};

function slowEntry(target: Target, stopMs: number, runMs: number): BenchEntry {
  const pct = Math.round((100 * stopMs) / (stopMs + runMs));
  const who =
    target === 'sequencer' ? 'the sequencer (rank 0)' : 'one replica that is neither contact nor sequencer';
  return {
    name: `rpc: slow receiver, ${target} stopped ${pct} % (${stopMs}/${runMs} ms)`,
    description:
      `${SETUP}, ${who} SIGSTOPped ${stopMs} ms of every ${stopMs + runMs}; figure = completed calls ` +
      'per second, vs the steady entry of the same run (notes: whether the slow replica was removed, ' +
      'and healthy replicas removed, which must stay 0).',
    baseline: against(steady.name, 'steady'),
    slackMs: SLACK_MS,
    run: (ctx) => slowGroup(ctx, { target, stopMs, runMs }),
  };
}

export default [
  steady,
  slowEntry('member', 40, 10),
  slowEntry('member', 90, 10),
  slowEntry('sequencer', 40, 10),
  slowEntry('sequencer', 90, 10),
  slowEntry('sequencer', 900, 10),
];
