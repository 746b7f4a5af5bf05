// Who Acks a stamped message at once (docs/protocol.md, seq "Acks"). With 3 members and
// `majority` a non-sequencer delivers on the sequencer's Order alone; only the sequencer needs
// another member's Ack. So for another member's message: with QoS `awaited: 'sender'` (an RPC
// contact's `first` call: only the sender answers) nobody waits for the sequencer's delivery and
// every Ack goes within `lazyAckMs`, one covering several messages; with `awaited: 'all'` (the
// default) the sender Acks at once and the third member lazily. The sequencer's own messages,
// and groups whose peers need one another's Acks (5 members: a majority is 3), keep every Ack
// immediate. The same messages are delivered, in the same order, in every case (the checkers).
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

// The sequencer's own messages: both others Ack each at once, to both others (~4 per message).
const eager3 = () => acks(3, 0, majority).acks;

it('the sequencer sends: every Ack goes at once, whatever is awaited', () => {
  const eager = eager3();
  expect(eager).toBeGreaterThan(1_400);
  expect(acks(3, 0, senderOnly).acks).toBeGreaterThan(eager * 0.8);
});

it('3 members, another member sends, only it awaits delivery: every Ack goes lazily', () => {
  // One Ack per lazyAckMs (1 ms) from each non-sequencer over 100 ms of casts: ~4 messages each.
  expect(acks(3, 1, senderOnly).acks).toBeLessThan(eager3() / 3);
});

it("3 members, another member sends, every delivery awaited: the sender's Ack at once, the other lazily", () => {
  const eager = eager3();
  const mixed = acks(3, 1, majority).acks;
  // The sender's ~2 per message, the third member's ~0.5.
  expect(mixed).toBeGreaterThan(eager * 0.45);
  expect(mixed).toBeLessThan(eager * 0.8);
});

it('5 members (the peers need one another Ack for a majority of 3): every Ack goes at once', () => {
  const eager = acks(5, 0, majority).acks;
  expect(acks(5, 1, senderOnly).acks).toBeGreaterThan(eager * 0.8);
});
