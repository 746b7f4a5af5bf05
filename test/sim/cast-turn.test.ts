import { expect, it } from 'vitest';
import type { AppEvent } from '../../runtime/group/core.js';
import { CAST_BATCH } from '../../runtime/group/group.js';
import { groupConfig } from './scenario.js';
import { type NodeApp, type NodeHandle, World } from './world.js';

/**
 * test/sim/FINDINGS.md item 140: the simulator's group handle casts as `Group.cast` does. A cast
 * made while the member's effects are being handed out (from a listener) waits for the member's
 * next turn; one made from outside (a timer, a client packet) goes to the core at once, unless
 * earlier casts still wait.
 */
it("a cast from an event handler waits for the member's next turn, one from a timer does not", () => {
  const log: string[] = [];
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const handles: NodeHandle[] = [];
  const app = (_w: World, index: number): NodeApp => ({
    state: { snapshot: () => new Uint8Array(0), restore: () => {} },
    start: (node) => {
      handles[index] = node;
    },
    event: (ev: AppEvent) => {
      if (ev.type !== 'deliver' || index !== 1) return;
      const text = dec.decode(ev.delivery.payload);
      if (text !== 'ping') return;
      log.push(`n1 deliver ping at ${w.now}`);
      // A burst from the listener: more than one turn's worth.
      for (let i = 0; i < CAST_BATCH + 2; i++) handles[1]!.cast(enc.encode(`pong ${i}`), { order: 'total' });
      log.push('n1 listener returns');
    },
    clientPacket: () => {},
  });
  const w = new World({ ...groupConfig(1, 3, []), messages: 0, endMs: 4_000, app });
  for (const n of w.nodes) {
    const core = n.core!;
    const cast = core.cast.bind(core);
    core.cast = (payload, qos, now) => {
      const text = dec.decode(payload);
      if (text === 'ping' || text === 'pong 0' || text === `pong ${CAST_BATCH}`)
        log.push(`${n.address} core.cast ${text} at ${now}`);
      return cast(payload, qos, now);
    };
  }
  w.at(2_000, () => {
    log.push('timer');
    handles[0]!.cast(enc.encode('ping'), { order: 'total' });
    log.push('timer returns');
  });
  w.run();
  const at = Number(log.find((l) => l.startsWith('n1 deliver ping'))!.split(' at ')[1]);
  expect(log).toEqual([
    'timer',
    'n0 core.cast ping at 2000',
    'timer returns',
    `n1 deliver ping at ${at}`,
    'n1 listener returns',
    // The next turn, at the same virtual time: CAST_BATCH casts, then the rest in another turn.
    `n1 core.cast pong 0 at ${at}`,
    `n1 core.cast pong ${CAST_BATCH} at ${at}`,
  ]);
  // Every member delivered the burst, in the order it was cast.
  for (const i of [0, 1, 2]) {
    const pongs = w.nodes[i]!.rec.delivered.filter((d) => d.payload.startsWith('cG9uZ'));
    expect(pongs.map((d) => atob(d.payload))).toEqual(
      Array.from({ length: CAST_BATCH + 2 }, (_, k) => `pong ${k}`),
    );
  }
});

it("with rejoin 'same', a cast from the partitioned event goes to the next incarnation, as in Group", () => {
  // `Group` starts the next incarnation in a microtask after `partitioned` reaches its listeners,
  // and hands a cast those listeners made to the core in a later turn: the new incarnation's.
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let handle: NodeHandle | undefined;
  const castBy: string[] = [];
  const app = (_w: World, index: number): NodeApp => ({
    state: { snapshot: () => new Uint8Array(0), restore: () => {} },
    start: (node) => {
      if (index === 0) handle = node;
    },
    event: (ev: AppEvent) => {
      if (index === 0 && ev.type === 'partitioned' && castBy.length === 0)
        handle!.cast(enc.encode('after the cut'), { order: 'total' });
    },
    clientPacket: () => {},
  });
  const w = new World({ ...groupConfig(2, 3, []), messages: 0, endMs: 6_000, rejoin: 'same', app });
  const n0 = w.nodes[0]!;
  const core = n0.core!;
  const first = core.self;
  const cast = core.cast.bind(core);
  core.cast = (payload, qos, now) => {
    if (dec.decode(payload) === 'after the cut') castBy.push(core.self);
    return cast(payload, qos, now);
  };
  w.at(1_500, () => w.partition([0, 1, 1]));
  w.at(4_000, () => w.heal());
  w.run();
  expect(w.incarnations.find((i) => i.member === first)!.partitionedAt).not.toBeNull();
  expect(castBy).toHaveLength(1);
  expect(castBy[0]).not.toBe(first);
});
