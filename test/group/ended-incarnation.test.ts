// An excluded incarnation's stack runs on until its driver starts the next one (after rejoin
// damping, up to 80 s), but what its layers judge of the view it lost must not reach the
// application: in `npm run chaos -- --lan --seed 7 --max-down 3` an excluded sequencer kept
// reporting the live group's members as lagging, `removing: true`, for a minute.
import { expect, it } from 'vitest';
import { type AppEvent, type CoreEffect, MemberCore } from '../../runtime/group/core.js';
import type { Stack } from '../../runtime/stack/stack.js';
import type { Effect, UpEvent } from '../../runtime/stack/types.js';

function member() {
  const inject: UpEvent[] = [];
  const up = (): Effect[] => inject.splice(0).map((event) => ({ kind: 'up', event }));
  const stack = {
    down: () => up(),
    receive: () => up(),
    advance: () => up(),
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
  const feed = (event: UpEvent): AppEvent[] => {
    inject.push(event);
    return core
      .receive(new Uint8Array(0), 'x:1', 1)
      .flatMap((e: CoreEffect) => (e.kind === 'app' ? [e.event] : []));
  };
  return { core, feed };
}

const lagging: UpEvent = {
  type: 'lagging',
  member: '00000002.1',
  lagMs: 5_000,
  lagBytes: 10,
  removing: true,
};

it('an incarnation that was excluded or left reports no lag; the next one does', () => {
  const m = member();
  expect(m.feed(lagging).map((e) => e.type)).toEqual(['lagging']);
  expect(
    m.feed({ type: 'partitioned', viewId: 3, reason: 'excluded from view 4' }).map((e) => e.type),
  ).toEqual(['partitioned']);
  expect(m.feed(lagging)).toEqual([]);
  m.core.start(2);
  expect(m.feed(lagging).map((e) => e.type)).toEqual(['lagging']);
  m.feed({ type: 'left' });
  expect(m.feed(lagging)).toEqual([]);
});
