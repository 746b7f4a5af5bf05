// group: large messages and state — a 1 MB cast and a 64 MB state transfer through the group stack
// over UDP on 127.0.0.1, each compared to the TCP stream floor of the same run (MB/s).
import { performance } from 'node:perf_hooks';
import type { Child } from 'troupe/testkit';
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';
import { STREAM_BYTES, tcpStreamFloor } from './floor-tcp-stream.js';
import { groupTotal } from './group-total.js';

const MB = 1024 * 1024;

/** Two founders hold `bytes` of state; a third member joins and receives it by state transfer. */
async function stateTransfer(ctx: BenchContext): Promise<Measurement> {
  const bytes = ctx.quick ? STREAM_BYTES / 8 : STREAM_BYTES;
  const members: Child[] = [];
  for (let i = 0; i < 3; i++)
    members.push(
      await ctx.procs.start(script('bench/children/group-member.ts'), { name: `state-${i}`, ready: 'ready' }),
    );
  const seeds = members.map((m) => m.events[0]!.address as string);
  const join = { cmd: 'join', group: 'bench-state', stateBytes: bytes, joinTimeoutMs: 60_000 };
  const [a, b, joiner] = members as [Child, Child, Child];
  await Promise.all(
    [a, b].map((m) => m.request({ ...join, seeds: seeds.slice(0, 2), holdState: true }, 'joined', 15_000)),
  );
  await a.waitFor((e) => e.event === 'view' && (e.members as string[]).length === 2, 10_000);
  const t0 = performance.now();
  const joined = await joiner.request({ ...join, seeds, joinTimeoutMs: 100_000 }, 'joined', 110_000);
  const seconds = (performance.now() - t0) / 1000;
  const restored = joined.restoredBytes as number;
  if (restored !== bytes) throw new Error(`the joiner restored ${restored} bytes, not ${bytes}`);
  return {
    primary: 'rate',
    rate: { value: restored / seconds / 1e6, unit: 'MB/s' },
    ops: restored,
    seconds,
    notes: { 'MB of state': Math.round(restored / 1e6), 'join to restored ms': Math.round(seconds * 1000) },
  };
}

export const group1MB: BenchEntry = {
  name: 'group: 1 MB casts, 3 members',
  description:
    'One of 3 group member processes casts totally ordered 1 MiB messages (at most 4 undelivered; frag cuts them into datagrams); figure = MB/s delivered at each member, averaged; vs the tcp stream floor.',
  baseline: against(tcpStreamFloor.name, 'tcp stream floor'),
  run: (ctx) => groupTotal(ctx, { size: MB, casters: 1, window: 4, megabytes: true }),
};

export const groupState64MB: BenchEntry = {
  name: 'group: 64 MB state transfer',
  description:
    'Two group members hold a 64 MiB state; a third joins and receives it (runtime/group/state-transfer.ts); figure = MB/s from the join request to the restored state, join protocol included; vs the tcp stream floor.',
  baseline: against(tcpStreamFloor.name, 'tcp stream floor'),
  // A fixed 64 MiB, not bounded by maxSeconds: allow for a slow, loaded machine.
  timeoutMs: 120_000,
  run: stateTransfer,
};

export default [group1MB, groupState64MB];
