// A joiner whose state transfer stalls gives up and reports `partitioned`, so its driver rejoins
// as a new member instead of waiting forever (chunks are reliable only within a view, and a
// provider whose snapshot came after a newer view sends none).
import { describe, expect, it } from 'vitest';
import { MemberCore } from '../../runtime/group/core.js';
import { GroupKind } from '../../runtime/group/state-transfer.js';
import { appEvents, joinerStack } from './fixtures/joiner-stack.js';

function joiner(stateStallMs?: number) {
  let stack: ReturnType<typeof joinerStack> | undefined;
  const restored: Uint8Array[] = [];
  const core = new MemberCore({
    groupName: 'g',
    node: 1,
    makeStack: (self) => {
      stack = joinerStack(self);
      return stack;
    },
    state: { snapshot: () => new Uint8Array(0), restore: (s) => restored.push(s) },
    ...(stateStallMs !== undefined ? { stateStallMs } : {}),
  });
  const first = appEvents(core.start(0));
  const chunk = (index: number, count: number, now: number) => {
    stack!.inject.push({
      type: 'deliver',
      msg: { headers: [[GroupKind.StateChunk, 7, index, count, 1, 77]], payload: new Uint8Array([index]) },
      from: 'veteran',
      cast: false,
      meta: { viewId: 7 },
    });
    return appEvents(core.receive(new Uint8Array(0), 'a:1', now));
  };
  const app = (now: number) => {
    stack!.inject.push({
      type: 'deliver',
      msg: { headers: [[GroupKind.App]], payload: new Uint8Array([9]) },
      from: 'veteran',
      cast: true,
      meta: { viewId: 7 },
    });
    return appEvents(core.receive(new Uint8Array(0), 'a:1', now));
  };
  return { core, first, chunk, app, restored };
}

describe('a joiner whose state transfer stalls', () => {
  it('reports partitioned after stateStallMs without progress, with the provider named', () => {
    const j = joiner(1_000);
    expect(j.first.map((e) => e.type)).toEqual([]); // the view is held until the state is in
    expect(j.core.nextDeadline()).toBe(1_000);
    expect(appEvents(j.core.advance(999))).toEqual([]);
    const events = appEvents(j.core.advance(1_000));
    expect(events).toEqual([
      {
        type: 'partitioned',
        viewId: 7,
        reason: 'state transfer stalled: nothing from veteran for 1000 ms',
      },
    ]);
    expect(j.core.nextDeadline()).toBeUndefined();
    expect(j.restored).toEqual([]);
    // The incarnation is over: deliveries, casts and timers do nothing until it starts again
    // (the others remove it as failed; it never delivers without its state).
    expect(j.app(1_100)).toEqual([]);
    expect(j.core.cast(new Uint8Array([1]), { order: 'total' }, 1_200)).toEqual([]);
    expect(j.core.advance(2_000)).toEqual([]);
    expect(j.restored).toEqual([]);
    expect(appEvents(j.core.start(2_100))).toEqual([]); // a new incarnation joins afresh
    expect(j.core.nextDeadline()).toBe(2_100 + 1_000);
  });

  it('each chunk restarts the wait; a transfer that completes is restored and never times out', () => {
    const j = joiner(1_000);
    expect(j.chunk(0, 2, 800)).toEqual([]);
    expect(j.core.nextDeadline()).toBe(1_800);
    expect(appEvents(j.core.advance(1_500))).toEqual([]);
    const done = j.chunk(1, 2, 1_700);
    expect(done.map((e) => e.type)).toEqual(['view', 'ready']);
    expect(j.restored).toEqual([new Uint8Array([0, 1])]);
    expect(j.core.nextDeadline()).toBeUndefined();
    expect(appEvents(j.core.advance(5_000))).toEqual([]);
  });

  it('waits 10 s by default', () => {
    const j = joiner();
    expect(j.core.nextDeadline()).toBe(10_000);
  });
});
