// floor: tcp request/response — one server process, one client process, one loopback connection,
// 64-byte requests answered by 64-byte responses: the floor for RPC call latency and throughput.
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { LatencySummary } from '../lib/stats.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';

export const REQUEST_SIZE = 64;
export const PIPELINE = 64;

async function tcpRr(ctx: BenchContext, outstanding: number): Promise<Measurement> {
  const server = await ctx.procs.start(script('bench/children/tcp-server.ts'), {
    name: 'tcp-server',
    args: [String(REQUEST_SIZE)],
    ready: 'ready',
  });
  const client = await ctx.procs.start(script('bench/children/tcp-client.ts'), {
    name: 'tcp-client',
    ready: 'ready',
  });
  // Latency runs are per round trip, so fewer ops fit in the same time; the time bound still holds.
  const count = outstanding === 1 ? Math.min(ctx.limits.maxOps, 50_000) : ctx.limits.maxOps;
  const r = await client.request(
    {
      cmd: 'run',
      port: server.events[0]!.port,
      size: REQUEST_SIZE,
      outstanding,
      count,
      seconds: ctx.limits.maxSeconds,
      warmup: Math.min(2_000, Math.ceil(count / 10)),
    },
    'result',
    (ctx.limits.maxSeconds + 15) * 1000,
  );
  const latency = r.latencyUs as LatencySummary;
  const ops = r.ops as number;
  const seconds = r.seconds as number;
  return {
    primary: outstanding === 1 ? 'latency' : 'rate',
    rate: { value: ops / seconds, unit: 'req/s' },
    latency,
    ops,
    seconds,
    notes:
      outstanding === 1
        ? { 'req/s': Math.round(ops / seconds) }
        : { 'p50 µs': Math.round(latency.p50), 'p99 µs': Math.round(latency.p99) },
  };
}

export const tcpLatency: BenchEntry = {
  name: 'floor: tcp rr latency, 1 outstanding',
  description:
    `${REQUEST_SIZE}-byte request, ${REQUEST_SIZE}-byte response, one request in flight on one loopback ` +
    'connection between two processes; figure = round-trip p50/p99 in µs.',
  run: (ctx) => tcpRr(ctx, 1),
};

export const tcpThroughput: BenchEntry = {
  name: `floor: tcp rr throughput, ${PIPELINE} outstanding`,
  description:
    `Same connection with ${PIPELINE} requests kept in flight; figure = completed requests per second ` +
    '(latency under that load in the notes); compared to the 1-outstanding rate, i.e. the pipelining gain.',
  baseline: against(tcpLatency.name, 'tcp rr 1-outstanding rate'),
  run: (ctx) => tcpRr(ctx, PIPELINE),
};

export default [tcpLatency, tcpThroughput];
