// floor: raw dgram — the best a 3-member group could do with plain UDP unicast fan-out on loopback,
// in separate processes: the floor the totally ordered group casts are compared to.
import type { Child } from 'troupe/testkit';
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';

export const MEMBERS = 3;
const WINDOW = 1_000;
const ACK_EVERY = 250;

async function rawDgram(ctx: BenchContext, size: number): Promise<Measurement> {
  const peers: Child[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    peers.push(
      await ctx.procs.start(script('bench/children/dgram-peer.ts'), { name: `dgram-${i}`, ready: 'ready' }),
    );
  }
  const ports = peers.map((p) => p.events[0]!.port as number);
  const sendTimeout = (ctx.limits.maxSeconds + 10) * 1000;
  const sent = await Promise.all(
    peers.map((p, i) =>
      p.request(
        {
          cmd: 'run',
          peers: ports.filter((_, j) => j !== i),
          size,
          count: ctx.limits.maxOps,
          seconds: ctx.limits.maxSeconds,
          window: WINDOW,
          ackEvery: ACK_EVERY,
        },
        'sent',
        sendTimeout,
      ),
    ),
  );
  // What each receiver should have got from each sender, had nothing been lost.
  const expected = ports.map((port) =>
    Object.fromEntries(
      sent.filter((s) => s.port !== port).map((s) => [s.port, (s.sent as Record<string, number>)[port] ?? 0]),
    ),
  );
  const reports = await Promise.all(
    peers.map((p, i) => p.request({ cmd: 'report', expect: expected[i] }, 'report', 10_000)),
  );
  let received = 0;
  let rateSum = 0;
  let minRate = Number.POSITIVE_INFINITY;
  for (const r of reports) {
    const n = r.total as number;
    const rate = n / (r.spanSeconds as number);
    received += n;
    rateSum += rate;
    minRate = Math.min(minRate, rate);
  }
  const sentTotal = sent.reduce(
    (a, s) => a + Object.values(s.sent as Record<string, number>).reduce((x, y) => x + y, 0),
    0,
  );
  const seconds = Math.max(...reports.map((r) => r.spanSeconds as number));
  return {
    primary: 'rate',
    rate: { value: rateSum / MEMBERS, unit: 'msg/s per member' },
    ops: received,
    seconds,
    notes: {
      'slowest member msg/s': Math.round(minRate),
      'loss %': +((100 * (sentTotal - received)) / Math.max(1, sentTotal)).toFixed(2),
      'window stalls': sent.reduce((a, s) => a + (s.stalls as number), 0),
      'rcvbuf B': reports[0]!.recvBuffer as number,
    },
  };
}

const DESCRIPTION =
  `${MEMBERS} processes each send bounded bursts to the other two over UDP on 127.0.0.1 ` +
  `(windowed: acks every ${ACK_EVERY}, at most ${WINDOW} unacked per peer); ` +
  'figure = datagrams received per second at each member, averaged over members.';

export const rawDgram1B: BenchEntry = {
  name: 'floor: raw dgram 1 B',
  description: `1-byte datagrams. ${DESCRIPTION}`,
  run: (ctx) => rawDgram(ctx, 1),
};

export const rawDgram1K: BenchEntry = {
  name: 'floor: raw dgram 1 KB',
  description: `1024-byte datagrams; compared to the 1 B floor (the per-byte cost). ${DESCRIPTION}`,
  baseline: against(rawDgram1B.name, 'raw dgram 1 B floor'),
  run: (ctx) => rawDgram(ctx, 1024),
};

export default [rawDgram1B, rawDgram1K];
