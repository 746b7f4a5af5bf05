// A cast's QoS is checked. The layers read `order` and `resilience` by their position in a list,
// so from JavaScript (no type check) `g.cast(b, { order: 'totl' })` went out as `unreliable`,
// `resilience: 'majorty'` as `none`, and `{ resolution: 'majority' }` was ignored, all without
// a word. Now each is a TroupeError BAD_QOS before anything is sent; every valid QoS still
// delivers.
import { afterEach, describe, expect, it } from 'vitest';
import { checkQos, type Group, joinGroup } from '../../runtime/group/group.js';
import type { QoS } from '../../runtime/stack/types.js';
import { MemoryHub } from '../../runtime/transport/memory.js';
import { until } from '../support/until.js';

let groups: Group[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(200).catch(() => {})));
  groups = [];
});

const BAD: [unknown, string][] = [
  [{ order: 'totl' }, 'order "totl" is not one of'],
  [{}, 'order undefined is not one of'],
  [{ order: 'total', resilience: 'majorty' }, 'resilience "majorty" is not one of'],
  [{ order: 'total', resilience: 'k' }, 'resilience "k" needs k'],
  [{ order: 'total', resilience: 'k', k: 0 }, 'resilience "k" needs k'],
  [{ order: 'total', resilience: 'k', k: 1.5 }, 'resilience "k" needs k'],
  [{ order: 'total', resolution: 'majority' }, "unknown QoS field 'resolution'"],
  [{ order: 'total', resilience: 'majority', awaited: 'contact' }, 'awaited "contact" is not one of'],
  ['total', 'a QoS is an object'],
  [null, 'a QoS is an object'],
];

const GOOD: QoS[] = [
  { order: 'total' },
  { order: 'total', resilience: 'none' },
  { order: 'total', resilience: 'majority' },
  { order: 'total', resilience: 'safe' },
  { order: 'total', resilience: 'k', k: 1 },
  { order: 'total', resilience: 'majority', awaited: 'sender' },
  { order: 'total', resilience: 'safe', awaited: 'all' },
  { order: 'fifo' },
  { order: 'reliable' },
  { order: 'unreliable' },
];

describe('Group.cast checks its QoS', () => {
  it.each(BAD)('refuses %j', (qos, message) => {
    expect(() => checkQos(qos as QoS)).toThrow(message);
  });

  it('refuses values JSON cannot print with BAD_QOS too, not a TypeError', () => {
    expect(() => checkQos({ order: 1n } as never)).toThrow('order 1n is not one of');
    expect(() => checkQos({ order: 'total', resilience: Symbol('x') } as never)).toThrow(
      'resilience Symbol(x) is not one of',
    );
    expect(() => checkQos({ order: 'total', resilience: 'k', k: 2n } as never)).toThrow('(got 2n)');
  });

  it('a member refuses a bad QoS with BAD_QOS, sends nothing, and delivers every valid one', async () => {
    const hub = new MemoryHub();
    const addresses = ['qos-0:1', 'qos-1:1'];
    const [a, b] = await Promise.all(
      addresses.map((a) => joinGroup('qos', { seeds: addresses, transport: hub.attach(a), insecure: true })),
    );
    groups.push(a!, b!);
    await until(
      () => a!.view?.members.length === 2 && b!.view?.members.length === 2,
      5_000,
      'a 2-member view',
    );
    const got: number[] = [];
    b!.on('deliver', (d) => got.push(d.payload[0]!));
    for (const [qos] of BAD) {
      let code: string | undefined;
      try {
        a!.cast(new Uint8Array([99]), qos as QoS);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).toBe('BAD_QOS');
    }
    GOOD.forEach((qos, i) => {
      a!.cast(new Uint8Array([i]), qos);
    });
    await until(() => got.filter((x) => x !== 99).length >= GOOD.length - 1, 5_000, 'the valid casts');
    expect(got).not.toContain(99);
  });
});
