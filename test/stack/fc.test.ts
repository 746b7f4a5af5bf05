import { describe, expect, it } from 'vitest';
import { fc } from '../../runtime/layers/fc.js';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { DownEvent } from '../../runtime/stack/types.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { Net, type NetMember, totalStub } from './layer-net.js';

const registry = defaultRegistry().with(fc, totalStub);
// Packets written by hand: nak streams from 0.
const spec = (o: Record<string, unknown>) =>
  parseSpec('fc:total-stub:nak:com', { fc: o, nak: { randomOrigins: false } });
const cast = (n: number, size = 100): DownEvent => {
  const payload = new Uint8Array(size);
  payload[0] = n;
  return { type: 'cast', msg: { headers: [], payload }, qos: { order: 'fifo' } };
};
const fcStats = (m: NetMember) => m.stack.stats().fc!;

function group(members: number, o: Record<string, unknown>) {
  const net = new Net({ members, stack: spec(o), registry, seed: 3 });
  return { net, m: net.members };
}
const castsFrom = (net: Net, r: NetMember, s: NetMember) =>
  net
    .delivered(r)
    .filter((d) => d.cast && d.from === s.id)
    .map((d) => d.msg.payload[0]);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('fc credits', () => {
  it('blocks a sender out of credits and unblocks it as receivers return credit', () => {
    const { net, m } = group(2, { credits: 1_000 });
    net.installView(1);
    const [a, b] = [m[0]!, m[1]!];
    for (let k = 0; k < 10; k++) net.down(a, cast(k, 200));
    // 1,000 credits buy five casts of 200 bytes; the other five wait.
    expect(fcStats(a)).toMatchObject({ queued: 5, creditsMin: 0 });
    net.run(1_000);
    expect(castsFrom(net, b, a)).toEqual(range(10));
    expect(fcStats(a).queued).toBe(0);
    expect(fcStats(b).creditsSent).toBe(3); // 2,000 bytes consumed, returned once 500 or more piled up (3 × 600)
    expect(fcStats(a).blockedMs).toBeGreaterThan(0);
  });

  it('without quorum, lets a slow receiver throttle the sender, while the fast one waits with it', () => {
    const { net, m } = group(3, { credits: 1_000, quorum: false });
    net.installView(1);
    const [a, fast, slow] = [m[0]!, m[1]!, m[2]!];
    slow.deaf = true;
    for (let k = 0; k < 50; k++) net.down(a, cast(k));
    net.run(400);
    // The fast receiver returned its credit, but the slow one consumed nothing: ten casts only.
    expect(castsFrom(net, fast, a)).toEqual(range(10));
    expect(fcStats(a).queued).toBe(40);
    slow.deaf = false;
    net.run(10_000);
    expect(castsFrom(net, slow, a)).toEqual(range(50));
    expect(castsFrom(net, fast, a)).toEqual(range(50));
    expect(fcStats(a)).toMatchObject({ queued: 0, suspects: 0 });
  });

  it('with quorum (the default), a slow receiver holds nobody back until it trails by maxLagBytes', () => {
    const { net, m } = group(3, { credits: 1_000, maxLagBytes: 3_000 });
    net.installView(1);
    const [a, fast, slow] = [m[0]!, m[1]!, m[2]!];
    slow.deaf = true;
    for (let k = 0; k < 50; k++) net.down(a, cast(k));
    net.run(400);
    // The fast receiver and the sender are a majority of 3: the window is theirs. The slow one
    // may trail by up to 3,000 bytes: a cast goes out while it trails by at most 2,900.
    expect(castsFrom(net, fast, a)).toEqual(range(30));
    expect(fcStats(a)).toMatchObject({ queued: 20, creditsMin: -2_000 });
    slow.deaf = false;
    net.run(10_000);
    expect(castsFrom(net, slow, a)).toEqual(range(50));
    expect(castsFrom(net, fast, a)).toEqual(range(50));
    expect(fcStats(a)).toMatchObject({ queued: 0, suspects: 0 });
  });

  it('with quorum, waits for the window when no majority has credit', () => {
    const { net, m } = group(3, { credits: 1_000 });
    net.installView(1);
    const [a, b, c] = [m[0]!, m[1]!, m[2]!];
    b.deaf = true;
    c.deaf = true;
    for (let k = 0; k < 50; k++) net.down(a, cast(k));
    net.run(400);
    expect(fcStats(a).queued).toBe(40);
    b.deaf = false;
    c.deaf = false;
    net.run(10_000);
    expect(castsFrom(net, b, a)).toEqual(range(50));
    expect(fcStats(a).queued).toBe(0);
  });

  it('passes point-to-point messages and unreliable casts while casts are queued', () => {
    const { net, m } = group(2, { credits: 1_000 });
    net.installView(1);
    const [a, b] = [m[0]!, m[1]!];
    b.deaf = true;
    for (let k = 0; k < 20; k++) net.down(a, cast(k, 200));
    expect(fcStats(a).queued).toBe(15);
    b.deaf = false;
    const payload = new Uint8Array([42]);
    net.down(a, { type: 'send', to: b.id, msg: { headers: [], payload }, qos: { order: 'fifo' } });
    net.down(a, { type: 'cast', msg: { headers: [], payload }, qos: { order: 'unreliable' } });
    net.run(5);
    const got = net.delivered(b).filter((d) => d.msg.payload[0] === 42);
    expect(got.map((d) => d.cast)).toEqual([false, true]);
  });

  it('does not throttle before the first view', () => {
    const { net, m } = group(2, { credits: 1_000 });
    for (let k = 0; k < 20; k++) net.down(m[0]!, cast(k, 200));
    expect(fcStats(m[0]!).queued).toBe(0);
  });

  it('lets a cast larger than the window through once half the window is back', () => {
    const { net, m } = group(2, { credits: 1_000 });
    net.installView(1);
    net.down(m[0]!, cast(1, 5_000));
    expect(fcStats(m[0]!).queued).toBe(0);
    net.down(m[0]!, cast(2, 10));
    expect(fcStats(m[0]!).queued).toBe(1); // credits are at -4,000 now
    net.run(1_000);
    expect(castsFrom(net, m[1]!, m[0]!)).toEqual([1, 2]);
  });
});

describe('fc and membership', () => {
  it('suspects the member that blocks a cast past maxBlockMs, once, and not the one keeping up', () => {
    const { net, m } = group(3, { credits: 1_000, maxLagBytes: 1_500, maxBlockMs: 100 });
    net.installView(1);
    const [a, slow] = [m[0]!, m[2]!];
    slow.deaf = true;
    for (let k = 0; k < 20; k++) net.down(a, cast(k));
    net.run(1_000);
    const suspects = a.ups.flatMap((e) => (e.type === 'suspect' ? [e] : []));
    expect(suspects).toHaveLength(1);
    expect(suspects[0]!.member).toBe(slow.id);
    expect(suspects[0]!.silentMs).toBeGreaterThanOrEqual(100);
    expect(suspects[0]!.silentMs).toBeLessThan(200);
  });

  it('does not suspect anybody when maxBlockMs is 0 (the default)', () => {
    const { net, m } = group(2, { credits: 1_000 });
    net.installView(1);
    m[1]!.deaf = true;
    for (let k = 0; k < 20; k++) net.down(m[0]!, cast(k));
    net.run(5_000);
    expect(m[0]!.ups.some((e) => e.type === 'suspect')).toBe(false);
    expect(fcStats(m[0]!).blockedMs).toBeGreaterThan(4_000);
  });

  it('releases the queue when a view drops the member it waits for', () => {
    const { net, m } = group(3, { credits: 1_000, maxBlockMs: 100, quorum: false });
    net.installView(1);
    const [a, fast, slow] = [m[0]!, m[1]!, m[2]!];
    slow.deaf = true;
    for (let k = 0; k < 50; k++) net.down(a, cast(k));
    net.run(500);
    expect(fcStats(a).queued).toBe(40);
    net.installView(2, [a, fast]);
    net.run(2_000);
    expect(fcStats(a).queued).toBe(0);
    expect(castsFrom(net, fast, a)).toEqual(range(50));
  });

  it('starts every window afresh at a view change, so credit lost with the old view is not lost for good', () => {
    const { net, m } = group(3, { credits: 1_000 });
    net.installView(1, [m[0]!, m[1]!]);
    m[0]!.deaf = true; // the credit m[1] returns never arrives
    for (let k = 0; k < 8; k++) net.down(m[0]!, cast(k));
    net.run(1_000);
    expect(fcStats(m[0]!).creditsMin).toBe(200); // 800 bytes spent, nothing credited back
    m[0]!.deaf = false;
    net.installView(2);
    expect(fcStats(m[0]!).creditsMin).toBe(1_000); // the stayer and the joiner alike
  });
});

describe('fc facing forged and malformed credit', () => {
  const self = '00000001.1';
  const peer = '00000bad.1';
  /** A packet from `peer` as total-stub:nak:com carries it: p2p nak data on channel 1. */
  const packet = (header: unknown, seq: number, headers: unknown[] = []) =>
    encodePacket({
      type: PacketType.Stack,
      flags: 0x02,
      groupId: groupIdOf('g'),
      sender: { node: 0xbad, inc: 1 },
      headers: [...headers, header, [1, 1, seq, self]],
      payload: new Uint8Array(0),
    });
  function stack(members = [self, peer]) {
    const s = buildStack(spec({ credits: 1_000 }), registry, {
      self,
      groupName: 'g',
      random: seededRandom(1),
    });
    s.down({ type: 'view', view: { id: 1, members, addresses: members.map((_, i) => `n${i}`) } }, 0);
    return s;
  }

  it('never credits more than the full window', () => {
    const s = stack();
    s.down(cast(1, 600), 0);
    s.receive(packet([1, 1e12], 0), 'n1', 1);
    expect(s.stats().fc!.creditsMin).toBe(1_000);
  });

  it('ignores credit from a member outside the view', () => {
    const s = stack([self, '00000002.1']);
    s.receive(packet([1, 500], 0), 'x', 1);
    expect(s.stats().fc!).toMatchObject({ staleCredits: 1, creditsReceived: 0 });
    expect(s.stats().stack!.refused).toBe(0);
  });

  it.each([
    ['a negative credit', [1, -5]],
    ['a string credit', [1, 'lots']],
    ['a missing credit', [1]],
    ['an unknown kind', [9]],
    ['no array', 'fc'],
  ])('refuses %s', (_name, header) => {
    const s = stack();
    s.receive(packet(header, 0), 'n1', 1);
    expect(s.stats().stack!.refused).toBe(1);
    expect(s.stats().fc!.creditsReceived).toBe(0);
  });

  it.each([
    ['credits', 0],
    ['credits', 1.5],
    ['maxBlockMs', -1],
    ['maxBlockMs', 'x'],
    ['quorum', 'yes'],
    ['maxLagBytes', 999],
  ])('rejects option %s = %s', (k, v) => {
    expect(() =>
      buildStack(spec({ [k]: v }), registry, { self, groupName: 'g', random: seededRandom(1) }),
    ).toThrow(expect.objectContaining({ code: 'STACK_BAD_OPTION' }));
  });

  it('widens the default maxLagBytes to a window larger than it', () => {
    expect(() =>
      buildStack(spec({ credits: 64_000_000 }), registry, { self, groupName: 'g', random: seededRandom(1) }),
    ).not.toThrow();
  });

  it('is refused by checkSpec without a total-order layer below it', () => {
    expect(() =>
      buildStack(parseSpec('fc:nak:com'), registry, { self, groupName: 'g', random: seededRandom(1) }),
    ).toThrow(expect.objectContaining({ code: 'STACK_MISSING' }));
  });
});

describe('fc fits', () => {
  it('agrees with the members a cast waits for, on random credits, with quorum and without', () => {
    const r = seededRandom(5);
    for (const quorum of [true, false]) {
      const layer = fc.create({ self: 'a' } as never, {
        credits: 1_000,
        maxLagBytes: 3_000,
        quorum,
      }) as unknown as {
        credits: Map<string, number>;
        fits(bytes: number): boolean;
        holding(bytes: number): string[];
      };
      let waited = 0;
      for (let k = 0; k < 5_000; k++) {
        layer.credits = new Map(
          Array.from({ length: 1 + Math.floor(r() * 6) }, (_, i) => [
            `m${i}`,
            Math.floor(r() * 6_000) - 3_000,
          ]),
        );
        const bytes = Math.floor(r() * 1_500);
        const holding = layer.holding(bytes);
        if (holding.length > 0) waited++;
        expect(layer.fits(bytes)).toBe(holding.length === 0);
      }
      // Both answers came up often.
      expect(waited).toBeGreaterThan(500);
      expect(waited).toBeLessThan(4_500);
    }
  });
});
