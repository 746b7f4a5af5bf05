// floor: the ordered call's path with no protocol work — four processes over UDP loopback, the
// client's datagram going client → contact → (sequencer, third) → contact → client, each hop a
// plain forward. What an ordered call through three replica processes cannot beat on this
// machine: four one-way hops, two fan-outs, four processes waking (the TCP rr floor has two).
import type { Child } from 'troupe/testkit';
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { LatencySummary } from '../lib/stats.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';
import { tcpLatency } from './floor-tcp-rr.js';

const ROLES = ['contact', 'sequencer', 'third', 'client'] as const;

async function relay(ctx: BenchContext): Promise<Measurement> {
  const procs: Child[] = [];
  for (const role of ROLES)
    procs.push(
      await ctx.procs.start(script('bench/children/udp-relay.ts'), {
        name: `relay-${role}`,
        args: [role],
        ready: 'ready',
      }),
    );
  const ports = Object.fromEntries(ROLES.map((r, i) => [r, procs[i]!.events[0]!.port as number]));
  for (const p of procs) await p.request({ cmd: 'peers', ...ports }, 'peered');
  const count = Math.min(ctx.limits.maxOps, 20_000);
  const r = await procs[3]!.request(
    { cmd: 'run', count, seconds: ctx.limits.maxSeconds, warmup: Math.min(1_000, Math.ceil(count / 10)) },
    'result',
    (ctx.limits.maxSeconds + 30) * 1000,
  );
  const latency = r.latencyUs as LatencySummary;
  const ops = r.ops as number;
  const seconds = r.seconds as number;
  return {
    primary: 'latency',
    latency,
    ops,
    seconds,
    notes: { 'round trips/s': Math.round(ops / seconds), lost: r.lost as number },
  };
}

export const udpRelayLatency: BenchEntry = {
  name: 'floor: udp relay latency, an ordered call’s 4 hops',
  description:
    '64-byte datagram client → contact → (sequencer, third) → contact → client, four processes, each ' +
    'hop a plain forward (no protocol work); figure = round-trip p50/p99 in µs, vs the tcp rr latency floor.',
  baseline: against(tcpLatency.name, 'tcp rr floor'),
  run: relay,
};

export default [udpRelayLatency];
