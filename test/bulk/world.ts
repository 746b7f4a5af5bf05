import { createHash } from 'node:crypto';
import { type AfdpEvent, afdp, BULK_STACK } from '../../runtime/bulk/afdp.js';
import { com } from '../../runtime/layers/com.js';
import { buildStack, LayerRegistry, parseSpec } from '../../runtime/stack/builder.js';
import { memberId } from '../../runtime/stack/member.js';
import { type RandomSource, seededRandom } from '../../runtime/stack/random.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { Effect } from '../../runtime/stack/types.js';

/**
 * A small deterministic world for the afdp stack: node 0 sends, the others receive. The network
 * drops, duplicates and delays (so reorders) packets from one seeded source; IP multicast
 * reaches only nodes marked `multicast`; a node may crash or start late. Everything is driven
 * from one event queue, so a seed replays exactly (`BULK_SEED=n npx vitest run test/bulk`).
 */
export interface BulkScenario {
  seed: number;
  receivers: number;
  bytes: number;
  loss: number;
  dup: number;
  /** Extra random delay per packet, ms (reorders). */
  jitterMs: number;
  /** Receivers (1-based node index) that never hear IP multicast. */
  noMulticast?: number[];
  /** One receiver (1-based node index) behind a link with this loss rate, both ways. */
  lossy?: { node: number; loss: number };
  /**
   * Receivers (1-based) that already hold a byte range [from, to) of the blob. The sender then
   * announces a catalog, and each receiver's `holdings` returns the chunks wholly inside its range.
   */
  held?: Record<number, { from: number; to: number }>;
  /** Receiver crashing at a time (ms). */
  crash?: { node: number; atMs: number };
  /** Receiver starting late (ms). */
  late?: { node: number; atMs: number };
  key?: string;
  /**
   * The sender is given its receivers by host name (`r1.example:7000`, …), as `troupe dist
   * --seeds` may be: what it sends there arrives, and their packets come from their addresses.
   */
  seedNames?: boolean;
  /** Simulated time bound, ms. */
  limitMs?: number;
  afdp?: Record<string, unknown>;
}

export interface BulkOutcome {
  digest: string;
  received: Map<number, string>;
  /** When each receiver delivered the blob (simulated ms). */
  receivedAt: Map<number, number>;
  crashed: number | undefined;
  events: AfdpEvent[];
  finishedAt: number | undefined;
  endMs: number;
  stats: Record<string, Record<string, number>>[];
}

interface Arrival {
  at: number;
  order: number;
  to: number;
  bytes: Uint8Array;
  from: string;
}

export function runBulk(sc: BulkScenario): BulkOutcome {
  const rnd: RandomSource = seededRandom(sc.seed);
  const n = sc.receivers + 1;
  const address = (i: number): string => `10.0.0.${i + 1}:7000`;
  const seed = (i: number): string => (sc.seedNames ? `r${i}.example:7000` : address(i));
  /** The node an address or seed name reaches. */
  const nodeAt = (to: string): number =>
    to.startsWith('r') ? Number(to.slice(1, to.indexOf('.'))) : Number(to.split('.')[3]!.split(':')[0]) - 1;
  const blob = new Uint8Array(sc.bytes);
  for (let i = 0; i < blob.length; i++) blob[i] = Math.floor(rnd() * 256);
  const events: AfdpEvent[] = [];
  const registry = new LayerRegistry([com, afdp]);
  const comOpts = { ...(sc.key ? { key: sc.key, clock: () => 1_800_000_000_000 + now } : {}) };
  let now = 0;
  const stacks: (Stack | undefined)[] = [];
  const build = (i: number): Stack =>
    buildStack(
      parseSpec(BULK_STACK, {
        com: comOpts,
        afdp: {
          ...sc.afdp,
          ...(i === 0
            ? {
                seeds: Array.from({ length: sc.receivers }, (_, r) => seed(r + 1)),
                onEvent: (e: AfdpEvent) => events.push(e),
                ...(sc.held ? { catalog: new TextEncoder().encode('catalog') } : {}),
              }
            : { onEvent: (e: AfdpEvent) => events.push(e), ...holdingsOf(i) }),
        },
      }),
      registry,
      { self: memberId({ node: i + 1, inc: 1 }), groupName: 'bulk', random: seededRandom(sc.seed * 31 + i) },
    );
  function holdingsOf(i: number): {
    holdings?: (c: Uint8Array, chunk: number, size: number) => Map<number, Uint8Array>;
  } {
    const range = sc.held?.[i];
    if (!range) return {};
    return {
      holdings: (_c, chunk, size) => {
        const m = new Map<number, Uint8Array>();
        for (let idx = Math.ceil(range.from / chunk); idx * chunk < size; idx++) {
          const stop = Math.min(size, (idx + 1) * chunk);
          if (stop > range.to) break;
          m.set(idx, blob.slice(idx * chunk, stop));
        }
        return m;
      },
    };
  }
  for (let i = 0; i < n; i++) stacks.push(sc.late?.node === i ? undefined : build(i));
  const queue: Arrival[] = [];
  let order = 0;
  const received = new Map<number, string>();
  const receivedAt = new Map<number, number>();
  let crashed: number | undefined;
  const noMc = new Set(sc.noMulticast ?? []);

  const deliverTo = (from: number, to: number, bytes: Uint8Array): void => {
    const lossy = sc.lossy && (sc.lossy.node === from || sc.lossy.node === to);
    if (rnd() < (lossy ? sc.lossy!.loss : sc.loss)) return;
    const copies = rnd() < sc.dup ? 2 : 1;
    for (let c = 0; c < copies; c++)
      queue.push({ at: now + 0.2 + rnd() * sc.jitterMs, order: order++, to, bytes, from: address(from) });
  };
  const apply = (i: number, effects: Effect[]): void => {
    for (const e of effects) {
      if (e.kind === 'transmit') {
        if (e.to === null) {
          for (let j = 0; j < n; j++) if (j !== i && !(noMc.has(j) || noMc.has(i))) deliverTo(i, j, e.bytes);
        } else deliverTo(i, nodeAt(e.to), e.bytes);
      } else if (e.kind === 'up' && e.event.type === 'deliver' && i !== 0) {
        received.set(i, createHash('sha256').update(e.event.msg.payload).digest('hex'));
        receivedAt.set(i, now);
      } else if (e.kind === 'error') {
        throw e.error instanceof Error ? e.error : new Error(String(e.error));
      }
    }
  };

  apply(
    0,
    stacks[0]!.down({ type: 'cast', msg: { headers: [], payload: blob }, qos: { order: 'unreliable' } }, 0),
  );
  const limit = sc.limitMs ?? 120_000;
  let finishedAt: number | undefined;
  for (let steps = 0; steps < 5_000_000 && now < limit; steps++) {
    if (finishedAt === undefined) {
      const f = events.find((e) => e.type === 'finished');
      if (f) finishedAt = now;
    }
    if (finishedAt !== undefined && now > finishedAt + 1000) break;
    // Next thing: a packet arrival, a timer, a crash or a late start.
    let next = Number.POSITIVE_INFINITY;
    for (const s of stacks) {
      const d = s?.nextDeadline();
      if (d !== undefined && d < next) next = d;
    }
    let qi = -1;
    for (let k = 0; k < queue.length; k++) {
      const a = queue[k]!;
      if (a.at < next || (qi >= 0 && a.at === next && a.order < queue[qi]!.order)) {
        next = a.at;
        qi = k;
      }
    }
    const crashAt = sc.crash && crashed === undefined ? sc.crash.atMs : Number.POSITIVE_INFINITY;
    const lateAt = sc.late && stacks[sc.late.node] === undefined ? sc.late.atMs : Number.POSITIVE_INFINITY;
    if (Number.isFinite(Math.min(crashAt, lateAt)) && Math.min(crashAt, lateAt) <= next) {
      if (crashAt <= lateAt) {
        now = Math.max(now, crashAt);
        crashed = sc.crash!.node;
        stacks[crashed] = undefined;
      } else {
        now = Math.max(now, lateAt);
        stacks[sc.late!.node] = build(sc.late!.node);
      }
      continue;
    }
    if (!Number.isFinite(next)) break;
    now = Math.max(now, next);
    if (qi >= 0) {
      const a = queue.splice(qi, 1)[0]!;
      const s = stacks[a.to];
      if (s) apply(a.to, s.receive(a.bytes, a.from, now));
    } else {
      stacks.forEach((s, i) => {
        const d = s?.nextDeadline();
        if (s && d !== undefined && d <= now) apply(i, s.advance(now));
      });
    }
  }
  return {
    digest: createHash('sha256').update(blob).digest('hex'),
    received,
    receivedAt,
    crashed,
    events,
    finishedAt,
    endMs: now,
    stats: stacks.map((s) => s?.stats() ?? {}),
  };
}
