// QoS `awaited: 'sender'` (an RPC contact's `first`-mode request): with 3 members and `majority`,
// a non-sequencer delivers on the sequencer's Order alone, so only the sequencer needs another
// member's Ack, and nobody waits for the sequencer's delivery of another member's message. Such
// Acks go within `lazyAckMs`, one covering several messages, instead of one per Order from each
// non-sequencer (docs/protocol.md, "Acks"). Acks stay immediate where a delivery needs them: the
// sequencer's own messages (it answers them), `awaited: 'all'`, and groups where the peers need
// each other's Acks (5 members: a majority is 3). The same messages are delivered, in the same
// order, either way (the group checkers).
import { expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseSpec } from '../../runtime/stack/builder.js';
import type { QoS } from '../../runtime/stack/types.js';
import { GROUP_CHECKERS } from '../sim/group-checkers.js';
import { groupConfig, planProbes } from '../sim/scenario.js';
import { World } from '../sim/world.js';

/** Acks received over the group while `from` (a rank) casts 400 messages 0.25 ms apart. */
function acks(members: number, from: number, qos: QoS): { acks: number; delivered: number } {
  const w = new World({
    latencyMs: 0.1,
    ...groupConfig(11, members, []),
    stack: parseSpec(GROUP_STACK, {
      gms: { heartbeatMs: 50, suspectMs: 3_000, partitionMs: 9_000, bootstrapMs: 300 },
    }),
    qos,
    endMs: 4_000,
    probeAtMs: 3_500,
  });
  planProbes(w);
  let delivered = 0;
  for (let i = 0; i < 400; i++)
    w.at(1_500 + i * 0.25, () => {
      const sender = w.nodes.find((n) => n.alive && n.core?.view?.members[from] === n.core?.self);
      if (sender) {
        w.cast(sender);
        delivered++;
      }
    });
  w.run();
  expect(delivered).toBe(400);
  expect(GROUP_CHECKERS.flatMap((c) => c.check(w))).toEqual([]);
  const sum = w.incarnations.reduce((a, i) => a + ((i.stats().seq as { acks?: number })?.acks ?? 0), 0);
  return { acks: sum, delivered };
}

const majority: QoS = { order: 'total', resilience: 'majority' };
const senderOnly: QoS = { order: 'total', resilience: 'majority', awaited: 'sender' };

it('3 members, a non-sequencer sends and only it awaits delivery: Acks go lazily, several messages each', () => {
  const eager = acks(3, 1, majority).acks;
  const lazy = acks(3, 1, senderOnly).acks;
  // Eager: each non-sequencer Acks about every Order, to both others (~4 per message).
  expect(eager).toBeGreaterThan(1_000);
  // Lazy: one Ack per lazyAckMs (1 ms) per member, covering ~4 messages (100 ms of casts).
  expect(lazy).toBeLessThan(eager / 3);
});

it('the sequencer sends (it needs an Ack to deliver its own): Acks stay immediate', () => {
  const eager = acks(3, 0, majority).acks;
  const lazy = acks(3, 0, senderOnly).acks;
  expect(lazy).toBeGreaterThan(eager * 0.8);
});

it('5 members (the peers need one another Ack for a majority of 3): Acks stay immediate', () => {
  const eager = acks(5, 1, majority).acks;
  const lazy = acks(5, 1, senderOnly).acks;
  expect(lazy).toBeGreaterThan(eager * 0.8);
});
