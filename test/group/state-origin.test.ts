// A joiner is told where its state came from: the provider, and the member whose state the
// snapshot is a copy of (StateChunk's optional seventh element, FINDINGS 216), so the divergence
// check counts a copy as one vote with its origin.
import { afterEach, describe, expect, it } from 'vitest';
import { MemberCore } from '../../runtime/group/core.js';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import { GroupKind, StateSender } from '../../runtime/group/state-transfer.js';
import type { StateSource } from '../../runtime/group/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { appEvents, joinerStack } from './fixtures/joiner-stack.js';

/** A joiner given one whole-state chunk with `header`'s trailing elements. */
function restoredWith(extra: unknown[]): StateSource | undefined {
  let stack: ReturnType<typeof joinerStack> | undefined;
  const sources: (StateSource | undefined)[] = [];
  const core = new MemberCore({
    groupName: 'g',
    node: 1,
    makeStack: (self) => {
      stack = joinerStack(self);
      return stack;
    },
    state: { snapshot: () => new Uint8Array(0), restore: (_s, source) => sources.push(source) },
  });
  core.start(0);
  stack!.inject.push({
    type: 'deliver',
    msg: { headers: [[GroupKind.StateChunk, 7, 0, 1, 1, 77, ...extra]], payload: new Uint8Array([1]) },
    from: 'veteran',
    cast: false,
    meta: { viewId: 7 },
  });
  expect(appEvents(core.receive(new Uint8Array(0), 'a:1', 10)).map((e) => e.type)).toEqual(['view', 'ready']);
  expect(sources).toHaveLength(1);
  return sources[0];
}

describe('the origin of a transferred state', () => {
  it('a joiner takes the chunk origin, or the provider from a provider of an older release', () => {
    expect(restoredWith(['0000b00b.2'])).toEqual({ provider: 'veteran', origin: '0000b00b.2' });
    // Six elements, as older providers send: the provider is the origin.
    expect(restoredWith([])).toEqual({ provider: 'veteran', origin: 'veteran' });
    // Something else in that place (a later release's field) is not refused: read as none.
    expect(restoredWith([42])).toEqual({ provider: 'veteran', origin: 'veteran' });
    expect(restoredWith(['x'.repeat(65)])).toEqual({ provider: 'veteran', origin: 'veteran' });
  });

  it('a provider sends it as the seventh element of every chunk, and only when it has one', () => {
    const tx = new StateSender('j', 3, { era: 1, lineage: 77, origin: 'b.1' }, new Uint8Array(5), 2);
    expect(tx.pull().map(([h]) => h)).toEqual([[GroupKind.StateChunk, 3, 0, 3, 1, 77, 'b.1']]);
    const old = new StateSender('j', 3, { era: 1, lineage: 77 }, new Uint8Array(1), 2);
    expect(old.pull().map(([h]) => h)).toEqual([[GroupKind.StateChunk, 3, 0, 1, 1, 77]]);
  });
});

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
});

describe('over real UDP', () => {
  const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };
  it("a joiner's origin is its provider's stateOrigin(), else the provider itself", async () => {
    const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
    const seeds = [ts[0]!.address];
    let origin: string | undefined;
    const provider = await joinGroup('origin', {
      seeds,
      transport: ts[0]!,
      layers: FAST,
      ...TEST_SECURITY,
      state: { snapshot: () => new Uint8Array([1]), restore: () => {}, stateOrigin: () => origin },
    });
    groups.push(provider);
    const join = async (t: (typeof ts)[number]) => {
      let source: StateSource | undefined;
      const g = await joinGroup('origin', {
        seeds,
        transport: t,
        layers: FAST,
        ...TEST_SECURITY,
        state: { snapshot: () => new Uint8Array([1]), restore: (_s, s) => (source = s) },
      });
      groups.push(g);
      return source;
    };
    expect(await join(ts[1]!)).toEqual({ provider: provider.self, origin: provider.self });
    origin = '0000b00b.2';
    expect(await join(ts[2]!)).toEqual({ provider: provider.self, origin: '0000b00b.2' });
  }, 20_000);
});
