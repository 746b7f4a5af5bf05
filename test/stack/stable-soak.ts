/**
 * Soak run of the stable layer: `npx tsx test/stack/stable-soak.ts [members] [total] [seed]`.
 * Members cast at a steady rate over `stable:nak:com` with 1% loss in virtual time; prints the
 * nak retransmission-buffer high-water mark (bounded by the stability lag, not the message count).
 */
import { pathToFileURL } from 'node:url';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { stable } from '../../runtime/layers/stable.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import { Net } from './layer-net.js';

export interface LoadResult {
  members: number;
  total: number;
  delivered: number;
  /** Largest nak buffer of any stream at any time. */
  highWater: number;
  /** What is still buffered at the end, after the group went quiet. */
  bufferedAtEnd: number;
  refused: number;
  errors: number;
  virtualMs: number;
  wallMs: number;
}

/** Every member casts `total / members` messages, one every `intervalMs` (virtual), then quiet. */
export function stableLoad(
  members: number,
  total: number,
  seed = 1,
  intervalMs = 1,
  loss = 0.01,
): LoadResult {
  const started = performance.now();
  let delivered = 0;
  const net = new Net({
    members,
    seed,
    loss,
    stack: parseSpec('stable:nak:com'),
    registry: defaultRegistry().with(stable),
    record: false,
    onUp: (_m, ev) => {
      if (ev.type === 'deliver') delivered++;
    },
  });
  net.installView(1);
  const per = Math.floor(total / members);
  const payload = new Uint8Array(16);
  for (const m of net.members) {
    let k = 0;
    const next = () => {
      net.down(m, { type: 'cast', msg: { headers: [], payload }, qos: { order: 'fifo' } });
      if (++k < per) net.at(net.now + intervalMs, next);
    };
    net.at(m.index * 0.01, next);
  }
  const loadEnd = per * intervalMs;
  net.run(loadEnd + 2_000);
  const stats = net.members.map((m) => m.stack.stats());
  return {
    members,
    total: per * members,
    delivered,
    highWater: Math.max(...stats.map((s) => s.nak!.bufferHighWater!)),
    bufferedAtEnd: stats.reduce((n, s) => n + s.nak!.buffered!, 0),
    refused: stats.reduce((n, s) => n + s.stack!.refused!, 0),
    errors: net.members.reduce((n, m) => n + m.errors.length, 0),
    virtualMs: net.now,
    wallMs: Math.round(performance.now() - started),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [members = 5, total = 200_000, seed = 1] = process.argv.slice(2).map(Number);
  console.log(JSON.stringify(stableLoad(members, total, seed)));
}
