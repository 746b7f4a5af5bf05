// A down event the member core issues while it handles the effects of a stack run (a founder's
// state offer, a state chunk or ack) runs the stack again. What that nested run delivers comes
// after the rest of the earlier run's effects, and must reach the application after them
// (FINDINGS 126: group seed 80800078 with --pad 6000 --messages 300, a founder's casts queued
// before its first view were delivered to itself out of FIFO order).
import { expect, it } from 'vitest';
import { type AppEvent, type CoreEffect, MemberCore } from '../../runtime/group/core.js';
import { GroupKind } from '../../runtime/group/state-transfer.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { DownEvent, Effect, UpEvent } from '../../runtime/stack/types.js';

const app = (from: string, n: number): UpEvent => ({
  type: 'deliver',
  msg: { headers: [[GroupKind.App]], payload: new Uint8Array([n]) },
  from,
  cast: true,
  meta: { viewId: 1, qos: { order: 'fifo' } },
});

const offer = (from: string, gseq: number): UpEvent => ({
  type: 'deliver',
  msg: { headers: [[GroupKind.StateOffer, 0, 0, 0, 0, 0, 0]], payload: new Uint8Array(0) },
  from,
  cast: true,
  meta: { viewId: 1, gseq, qos: { order: 'total' } },
});

const delivered = (effects: CoreEffect[]): number[] =>
  effects.flatMap((e) =>
    e.kind === 'app' && e.event.type === 'deliver' ? [e.event.delivery.payload[0]!] : [],
  );

it("a nested stack run's deliveries reach the application after the earlier run's", () => {
  let run: Effect[] = [];
  let onCast: Effect[] = [];
  const stack = {
    down(ev: DownEvent): Effect[] {
      // The founder's state offer fills pack's batch past maxBytes: the batch of the founder's
      // own casts queued before the view leaves now and loops back in this run.
      if (ev.type === 'cast') return onCast.splice(0);
      return [];
    },
    receive: () => run.splice(0),
    advance: () => [],
    nextDeadline: () => undefined,
    stats: () => ({}),
  } as unknown as Stack;
  const core = new MemberCore({
    groupName: 'g',
    node: 1,
    makeStack: () => stack,
    state: { snapshot: () => new Uint8Array([7]), restore: () => {} },
  });
  core.start(0);
  const self = core.self;
  const up = (event: UpEvent): Effect => ({ kind: 'up', event });
  // The run that installs the founding view delivers this member's casts 1 and 2 (the first
  // packet of its queued casts); the run of its offer delivers 3 and 4 (the next packet).
  run = [
    up({
      type: 'view',
      view: { id: 1, members: [self, 'b.1'], addresses: ['a:1', 'b:1'], epoch: 0 },
      delta: { previousId: undefined, joined: [self, 'b.1'], left: [], failed: [] },
    }),
    up(app(self, 1)),
    up(app(self, 2)),
  ];
  onCast = [up(app(self, 3)), up(app(self, 4))];
  const out: CoreEffect[] = [...core.receive(new Uint8Array(0), 'x:1', 1)];
  // Both offers (of a first founding: nothing to transfer) settle the state: the held events go.
  run = [up(offer(self, 0)), up(offer('b.1', 1))];
  out.push(...core.receive(new Uint8Array(0), 'x:1', 2));
  const events: AppEvent['type'][] = out.flatMap((e) => (e.kind === 'app' ? [e.event.type] : []));
  expect(events[0]).toBe('view');
  expect(delivered(out)).toStrictEqual([1, 2, 3, 4]);
});
