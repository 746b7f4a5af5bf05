import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { stable } from '../../runtime/layers/stable.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { DownEvent, UpEvent } from '../../runtime/stack/types.js';
import { decodePacket, encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { defaultConfig, runScenario } from '../sim/scenario.js';
import { ALL_FAULTS } from '../sim/world.js';
import { Net } from './layer-net.js';
import { stableLoad } from './stable-soak.js';

const registry = defaultRegistry().with(stable);
const cast = (n: number): DownEvent => ({
  type: 'cast',
  msg: { headers: [], payload: new Uint8Array([n]) },
  qos: { order: 'fifo' },
});
const buffered = (net: Net) => net.members.reduce((n, m) => n + m.stack.stats().nak!.buffered!, 0);
const stableUps = (ups: UpEvent[]) => ups.flatMap((e) => (e.type === 'stable' ? [e.seqs] : []));

function loaded(loss = 0.05) {
  const net = new Net({ members: 3, stack: parseSpec('stable:nak:com'), registry, loss, seed: 4 });
  net.installView(1);
  for (let k = 0; k < 100; k++) for (const m of net.members) net.at(k * 0.5, () => net.down(m, cast(k)));
  return net;
}

describe('stable over stable:nak:com', () => {
  it('empties every nak retransmission buffer once gossip has run', () => {
    const net = loaded();
    net.run(40);
    expect(buffered(net)).toBe(243); // casts 0..80 of each member, no gossip round yet: all held
    net.run(1_000);
    for (const m of net.members) {
      expect(m.errors).toEqual([]);
      expect(net.delivered(m)).toHaveLength(300);
      // The last stable event up says every member holds every sender's 100 casts (each stream
      // begins at a random origin: its first delivered seq).
      const origin = new Map<string, number>();
      for (const d of net.delivered(m)) if (!origin.has(d.from)) origin.set(d.from, d.meta.seq!);
      const last = stableUps(m.ups).at(-1)!;
      expect([...last].map(([sender, seq]) => seq - origin.get(sender)!)).toEqual([99, 99, 99]);
    }
    expect(buffered(net)).toBe(0);
  });

  it('stops gossiping once everything is stable', () => {
    const net = loaded();
    net.run(1_000);
    const sent = () => net.members.map((m) => m.stack.stats().stable!.gossipSent);
    const before = sent();
    net.run(5_000);
    expect(sent()).toEqual(before);
    // New traffic starts it again, and it settles again.
    net.down(net.members[0]!, cast(1));
    net.run(6_000);
    expect(sent().every((n, i) => n! > before[i]!)).toBe(true);
    expect(buffered(net)).toBe(0);
  });

  it('gossips settleMs after the last delivery of a burst, not after its first', () => {
    // Periodic rounds far apart, so only the settle timer can send before 500 ms.
    const spec = parseSpec('stable:nak:com', { stable: { gossipMs: 500, settleMs: 5 } });
    const net = new Net({ members: 3, stack: spec, registry, loss: 0, seed: 9 });
    net.installView(1);
    for (let k = 0; k <= 20; k++) net.at(k, () => net.down(net.members[0]!, cast(k)));
    const sent = () => net.members[1]!.stack.stats().stable!.gossipSent;
    // The burst's deliveries at member 1 run until ~20.5 ms: no settle round inside it (a timer
    // counted from the first delivery, or re-armed only once, would have fired by then).
    net.run(20.5);
    expect(sent()).toBe(0);
    // 5 ms after the last delivery (at most 21 ms), the settle round goes out, once.
    net.run(26.1);
    expect(sent()).toBe(1);
    net.run(200);
    expect(sent()).toBe(1);
  });

  it('makes nothing stable while a member has not reported; a view without it releases the buffers', () => {
    const net = loaded(0);
    const deaf = net.members[2]!;
    deaf.deaf = true;
    net.run(1_000);
    // The deaf member hears nobody, so it never reports their casts: they stay buffered. Its own
    // casts reached everyone, and everyone (it included) reported them, so those are stable.
    expect(net.members.map((m) => m.stack.stats().nak!.buffered)).toEqual([100, 100, 100]);
    const seen = stableUps(net.members[0]!.ups);
    expect(seen.every((seqs) => [...seqs.keys()].every((k) => k === deaf.id))).toBe(true);
    net.down(net.members[0]!, { type: 'forget', member: deaf.id });
    net.down(net.members[1]!, { type: 'forget', member: deaf.id });
    net.installView(2, net.members.slice(0, 2));
    net.run(2_000);
    // The two survivors freed their own casts; the deaf member still holds what nobody confirmed.
    expect(net.members[0]!.stack.stats().nak!.buffered).toBe(0);
    expect(net.members[1]!.stack.stats().nak!.buffered).toBe(0);
  });

  it('keeps the nak invariants in the simulator (no views there: the layer only passes through)', () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 10; seed++) {
      const cfg = defaultConfig(seed, 3 + (seed % 3), ALL_FAULTS);
      bad.push(...runScenario({ ...cfg, stack: parseSpec('stable:nak:com'), registry }).violations);
    }
    expect(bad).toEqual([]);
  });

  it('keeps the buffer bounded over 200,000 messages from 5 members with 1% loss', () => {
    const r = stableLoad(5, 200_000, 1);
    expect(r.errors).toBe(0);
    expect(r.delivered).toBe(1_000_000);
    expect(r.bufferedAtEnd).toBe(0);
    // 40,000 casts per sender; the buffer holds only about one stability lag of them.
    expect(r.highWater).toBeLessThan(2_000);
  });
});

describe('stable facing forged and malformed gossip', () => {
  const evilNode = 0xbad;
  const evil = '00000bad.1';
  const self = '00000001.1';
  const packet = (header: unknown) =>
    encodePacket({
      type: PacketType.Stack,
      flags: 0,
      groupId: groupIdOf('g'),
      sender: { node: evilNode, inc: 1 },
      headers: [header, [0]],
      payload: new Uint8Array(0),
    });
  function stack(members = [self, evil]) {
    const s = buildStack(parseSpec('stable:nak:com'), registry, {
      self,
      groupName: 'g',
      random: seededRandom(1),
    });
    s.down({ type: 'view', view: { id: 3, members, addresses: members.map((_, i) => `n${i}`) } }, 0);
    return s;
  }

  it('accepts a well-formed report from a member (control case)', () => {
    const s = stack();
    s.receive(packet([1, 3, [[evil, 4]], 0]), 'n1', 1);
    expect(s.stats().stack!.refused).toBe(0);
    expect(s.stats().stable!.reporters).toBe(1);
  });

  it("takes a joiner's report with a -1 entry (nothing delivered) for its other entries", () => {
    const s = stack();
    s.receive(
      packet([
        1,
        3,
        [
          [self, -1],
          [evil, 4],
        ],
        0,
      ]),
      'n1',
      1,
    );
    expect(s.stats().stack!.refused).toBe(0);
    expect(s.stats().stable!.reporters).toBe(1);
  });

  it('a join point at 0 puts no -1 in its gossip', () => {
    const s = stack();
    s.down({ type: 'expect', member: evil, seq: 0 }, 0);
    const gossip = s
      .advance(1_000)
      .flatMap((e) => (e.kind === 'transmit' ? [decodePacket(e.bytes).headers[0] as unknown[]] : []))
      .filter((h) => h[0] === 1);
    expect(gossip.length).toBeGreaterThan(0);
    for (const h of gossip)
      for (const [, seq] of h[2] as [string, number][]) expect(seq).toBeGreaterThanOrEqual(0);
  });

  it('refuses gossip for the current view from a non-member', () => {
    const s = stack([self, '00000002.1']);
    s.receive(packet([1, 3, [[self, 4]], 0]), 'x', 1);
    expect(s.stats().stack!.refused).toBe(1);
    expect(s.stats().stable!.reporters).toBe(0);
  });

  it('ignores gossip of another view as stale, without refusing it', () => {
    const s = stack();
    s.receive(packet([1, 2, [[evil, 4]], 0]), 'n1', 1);
    expect(s.stats().stack!.refused).toBe(0);
    expect(s.stats().stable!).toMatchObject({ staleGossip: 1, reporters: 0 });
  });

  it.each([
    ['no view id', [1]],
    ['a string view id', [1, 'three', [], 0]],
    ['entries that are not an array', [1, 3, 5, 0]],
    ['an entry that is not a pair', [1, 3, [[evil]], 0]],
    ['a seq below -1', [1, 3, [[evil, -2]], 0]],
    ['a fractional seq', [1, 3, [[evil, 1.5]], 0]],
    ['a sender that is not a string', [1, 3, [[7, 1]], 0]],
    ['a sender outside the view', [1, 3, [['00000009.1', 1]], 0]],
    [
      'a sender reported twice',
      [
        1,
        3,
        [
          [evil, 1],
          [evil, 2],
        ],
        0,
      ],
    ],
    [
      'more entries than members',
      [
        1,
        3,
        [
          [evil, 1],
          [self, 1],
          ['00000009.1', 1],
        ],
        0,
      ],
    ],
    ['a settled flag of 2', [1, 3, [], 2]],
    ['an unknown kind', [5, 3, [], 0]],
  ])('refuses %s and keeps working', (_name, header) => {
    const s = stack();
    s.receive(packet(header), 'n1', 1);
    expect(s.stats().stack!.refused).toBe(1);
    expect(s.stats().stable!.reporters).toBe(0);
    s.receive(packet([1, 3, [[evil, 4]], 0]), 'n1', 2);
    expect(s.stats().stable!.reporters).toBe(1);
  });

  it.each([
    ['gossipMs', 0],
    ['settleMs', -1],
    ['gossipMs', 'x'],
  ])('rejects option %s = %s', (k, v) => {
    expect(() =>
      buildStack(parseSpec('stable:nak:com', { stable: { [k]: v } }), registry, {
        self,
        groupName: 'g',
        random: seededRandom(1),
      }),
    ).toThrow(expect.objectContaining({ code: 'STACK_BAD_OPTION' }));
  });
});

describe('stable stats do not show nak positions', () => {
  it('counts a sender with nothing stable yet from its first delivery, not from 0 (FINDINGS 212)', () => {
    // nak streams begin at random origins a stranger must not learn (FINDINGS 206), and
    // `status` answers any client of a keyless group with every layer's stats: `unstable`
    // counted a sender's delivered seq + 1 until its first stable event, its stream's position.
    const net = new Net({ members: 2, stack: parseSpec('stable:nak:com'), registry, loss: 0, seed: 3 });
    net.installView(1);
    for (let k = 0; k < 3; k++) net.at(k, () => net.down(net.members[0]!, cast(k)));
    net.run(2.5); // delivered everywhere, before any gossip round
    for (const m of net.members) {
      expect(net.delivered(m)).toHaveLength(3);
      expect(m.stack.stats().stable!.unstable).toBe(3);
    }
    net.run(1_000);
    for (const m of net.members) expect(m.stack.stats().stable!.unstable).toBe(0);
  });
});
