import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { decodePacket, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/index.js';

const packet = (headers: unknown[], group = 'g') =>
  encodePacket({
    type: PacketType.Stack,
    flags: 0,
    groupId: groupIdOf(group),
    sender: { node: 0xbad, inc: 1 },
    headers,
    payload: new Uint8Array(0),
  });

/** Packets here are written by hand: streams from 0 (see "random stream origins" below for the default). */
const BY_HAND = { randomOrigins: false };

function stack() {
  return buildStack(parseSpec('nak:com', { nak: { maxPending: 1000, ...BY_HAND } }), defaultRegistry(), {
    self: '00000001.1',
    groupName: 'g',
    random: seededRandom(1),
  });
}

describe('nak facing forged and malformed packets', () => {
  it('does not let a forged session claim of 2^52 messages inflate its NAKs', () => {
    const s = stack();
    s.receive(packet([[3, 0, 2 ** 52]]), 'evil:1', 0);
    const effects = s.advance(1_000);
    const naks = effects.flatMap((e) => (e.kind === 'transmit' ? [decodePacket(e.bytes).headers[0]] : []));
    expect(naks).toEqual([[2, 0, 0, 0, 1000]]); // nonce 0: origins not random
  });

  it('answers a NAK for an absurd range without scanning it', () => {
    const s = stack();
    s.down({ type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } }, 0);
    const started = performance.now();
    s.receive(packet([[2, 0, 0, 0, Number.MAX_SAFE_INTEGER]]), 'evil:1', 100);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('ignores a forged Gone that would skip the stream far ahead', () => {
    const s = stack();
    s.receive(packet([[4, 0, Number.MAX_SAFE_INTEGER, 0]]), 'evil:1', 0);
    const ok = s.receive(packet([[1, 0, 0]]), 'evil:1', 1);
    expect(ok.some((e) => e.kind === 'up' && e.event.type === 'deliver')).toBe(true);
  });

  it("re-casts our casts for a member's NAK only, not a stranger's (session 19's review)", () => {
    // Re-casts go to the whole group: 133 forged 39-byte NAKs made a member re-cast 527 times.
    const s = stack();
    const view = (members: string[]) => ({
      id: 1,
      members,
      addresses: members.map((m) => (m === '00000bad.1' ? 'evil:1' : 'a:1')),
      epoch: 1,
    });
    s.down({ type: 'view', view: view(['00000001.1', '00000002.1']) } as never, 0);
    s.down({ type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } }, 0);
    const resent = (at: number) =>
      s.receive(packet([[2, 0, 0, 0, 0]]), 'evil:1', at).filter((e) => e.kind === 'transmit').length;
    expect(resent(100)).toBe(0);
    expect(s.stats().nak?.strangerNaks).toBe(1);
    s.down({ type: 'view', view: view(['00000001.1', '00000bad.1']) } as never, 200);
    expect(resent(300)).toBe(1);
  });

  it('refuses a NAK range with lo > hi before resending anything', () => {
    const s = stack();
    s.down({ type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } }, 0);
    const out = s.receive(packet([[2, 0, 0, 0, 0, 5, 1]]), 'evil:1', 100);
    expect(out.filter((e) => e.kind === 'transmit')).toEqual([]);
    expect(s.stats().stack?.refused).toBe(1);
  });

  it.each([
    ['no header', []],
    ['a header that is not an array', [7]],
    ['an unknown kind', [[9, 0, 1]]],
    ['a bad channel', [[1, 5, 0]]],
    ['a negative sequence', [[1, 0, -1]]],
    ['a string sequence', [[1, 0, 'x']]],
  ])('refuses %s and keeps working', (_name, headers) => {
    const s = stack();
    expect(s.receive(packet(headers), 'evil:1', 0)).toEqual([]);
    expect(s.stats().stack?.refused).toBe(1);
    const ok = s.receive(packet([[1, 0, 0]]), 'evil:1', 1);
    expect(ok.some((e) => e.kind === 'up' && e.event.type === 'deliver')).toBe(true);
  });

  it('counts and drops a packet of another group', () => {
    const s = stack();
    expect(s.receive(packet([[1, 0, 0]], 'other'), 'evil:1', 0)).toEqual([]);
    expect(s.stats().com?.foreignGroup).toBe(1);
  });
});

describe('nak: memory for senders outside the view', () => {
  const forged = (node: number, seq: number, payload: Uint8Array) =>
    encodePacket({
      type: PacketType.Stack,
      flags: 0,
      groupId: groupIdOf('g'),
      sender: { node, inc: 1 },
      headers: [[1, 0, seq]],
      payload,
    });

  it('4,000 forged 60 KB out-of-order datagrams from invented ids: bytes held stay under the caps', () => {
    const s = buildStack(parseSpec('nak:com', { nak: BY_HAND }), defaultRegistry(), {
      self: '00000001.1',
      groupName: 'g',
      random: seededRandom(1),
    });
    const payload = new Uint8Array(60_000);
    // From many hosts: com gives one host at most half its admissions.
    for (let i = 0; i < 4_000; i++)
      s.receive(forged(0x1000 + i, 1 + (i % 7), payload), `6.6.${i >> 8}.${i & 255}:1`, i);
    const nak = s.stats().nak!;
    // Defaults: 64 stranger streams, 256 KiB each (at most 4 of these messages per stream).
    expect(nak.inStreams).toBeLessThanOrEqual(64);
    expect(nak.pendingBytes).toBeLessThanOrEqual(64 * 256 * 1024);
    expect((nak.pending ?? 0) * 60_000).toBeLessThanOrEqual(64 * 1024 * 1024);
    // com admits about 100 new ids a second (about 500 here); nak keeps 64 of them.
    expect((nak.strangersEvicted ?? 0) + (s.stats().com!.strangerLimited ?? 0)).toBeGreaterThan(3_900);
    expect(nak.strangersEvicted).toBeGreaterThan(300);
    // One stranger's stream is capped in bytes too: 100 datagrams from one id hold at most 256 KiB.
    for (let seq = 10; seq < 110; seq++) s.receive(forged(0x9999, seq, payload), '6.6.6.6:1', 5_000 + seq);
    expect(s.stats().nak!.pendingCapped).toBeGreaterThan(80);
  });

  it('a view member is not held to the stranger cap, and the total cap still holds', () => {
    const s = buildStack(
      parseSpec('nak:com', { nak: { maxPendingBytes: 4_000_000, ...BY_HAND } }),
      defaultRegistry(),
      {
        self: '00000001.1',
        groupName: 'g',
        random: seededRandom(1),
      },
    );
    const member = '00000bad.1';
    s.down({ type: 'view', view: { id: 1, members: ['00000001.1', member], addresses: ['a:1', 'b:1'] } }, 0);
    const payload = new Uint8Array(60_000);
    for (let seq = 1; seq <= 100; seq++) s.receive(forged(0xbad, seq, payload), 'b:1', seq);
    const nak = s.stats().nak!;
    expect(nak.pending).toBe(66); // 66 × ~60 KB fit under 4,000,000 bytes; a stranger would get 4
    expect(nak.pendingBytes).toBeLessThanOrEqual(4_000_000);
    // The gap filled: everything held is delivered, and the bytes are released.
    const out = s.receive(forged(0xbad, 0, payload), 'b:1', 200);
    expect(out.filter((e) => e.kind === 'up' && e.event.type === 'deliver')).toHaveLength(67);
    expect(s.stats().nak!.pendingBytes).toBe(0);
  });
});

describe('nak: repairs through other members (NakFor, Repair) from outside the view', () => {
  const self = '00000001.1';
  const member = '00000bad.1';
  const other = '00000c0d.1';
  const from = (node: number, headers: unknown[], payload = new Uint8Array(0)) =>
    encodePacket({
      type: PacketType.Stack,
      flags: 0,
      groupId: groupIdOf('g'),
      sender: { node, inc: 1 },
      headers,
      payload,
    });
  function member3() {
    const s = buildStack(parseSpec('nak:com', { nak: BY_HAND }), defaultRegistry(), {
      self,
      groupName: 'g',
      random: seededRandom(1),
    });
    const view = { id: 1, members: [self, member, other], addresses: ['a:1', 'b:1', 'c:1'] };
    s.down({ type: 'view', view }, 0);
    // We hold the member's casts 0..9 (delivered from it): ours to repair others with.
    for (let seq = 0; seq < 10; seq++)
      s.receive(from(0xbad, [[1, 0, seq]], new Uint8Array([seq])), 'b:1', seq);
    return s;
  }
  const sent = (effects: ReturnType<ReturnType<typeof member3>['receive']>) =>
    effects.filter((e) => e.kind === 'transmit');

  it('answers a member only, from the copies it holds, at most once per guard interval', () => {
    const s = member3();
    expect(s.stats().nak?.held).toBe(10);
    expect(sent(s.receive(from(0xbeef, [[5, 0, member, 0, 9]]), '6.6.6.6:1', 100))).toEqual([]);
    const repaired = sent(s.receive(from(0xc0d, [[5, 0, member, 2, 4]]), 'c:1', 101));
    expect(repaired.map((e) => e.kind === 'transmit' && e.to)).toEqual(['c:1', 'c:1', 'c:1']);
    expect(s.stats().nak?.repairsForOthers).toBe(3);
    expect(sent(s.receive(from(0xc0d, [[5, 0, member, 2, 4]]), 'c:1', 102))).toEqual([]);
    // An absurd range, or held copies far apart (a join point skipped the stream), is walked
    // only over what is held.
    s.down({ type: 'expect', member, seq: 2 ** 40 }, 150);
    s.receive(from(0xbad, [[1, 0, 2 ** 40]]), 'b:1', 151);
    const started = performance.now();
    const far = sent(s.receive(from(0xc0d, [[5, 0, member, 0, Number.MAX_SAFE_INTEGER]]), 'c:1', 200));
    expect(performance.now() - started).toBeLessThan(500);
    expect(far).toHaveLength(11);
  });

  it('refuses a NakFor with lo > hi before resending anything', () => {
    const s = member3();
    expect(sent(s.receive(from(0xc0d, [[5, 0, member, 0, 0, 5, 1]]), 'c:1', 100))).toEqual([]);
    expect(s.stats().stack?.refused).toBe(1);
  });

  it('takes a Repair only from a member, for a member other than itself', () => {
    const s = member3();
    const delivered = (effects: ReturnType<typeof s.receive>) =>
      effects.filter((e) => e.kind === 'up' && e.event.type === 'deliver');
    expect(delivered(s.receive(from(0xbeef, [[6, 0, member, 10]]), '6.6.6.6:1', 100))).toEqual([]);
    expect(delivered(s.receive(from(0xc0d, [[6, 0, self, 0]]), 'c:1', 101))).toEqual([]);
    expect(delivered(s.receive(from(0xc0d, [[6, 0, member, 10]]), 'c:1', 102))).toHaveLength(1);
    expect(delivered(s.receive(from(0xbad, [[1, 0, 10]]), 'b:1', 103))).toEqual([]); // a duplicate now
  });
});

describe('nak: a stranger stream pushed out by invented senders (FINDINGS 175)', () => {
  const p2p = (node: number, seq: number, body: number) =>
    encodePacket({
      type: PacketType.Stack,
      flags: Flags.Unicast,
      groupId: groupIdOf('g'),
      sender: { node, inc: 1 },
      headers: [[1, 1, seq, '00000001.1']],
      payload: new Uint8Array([body]),
    });

  it("keeps its position: the joiner's retransmission of a delivered message is not delivered again", () => {
    const s = stack();
    const delivered: number[] = [];
    const feed = (bytes: Uint8Array, from: string, at: number) => {
      for (const e of s.receive(bytes, from, at))
        if (e.kind === 'up' && e.event.type === 'deliver' && e.event.from === '00000777.1')
          delivered.push(e.event.msg.payload[0]!);
    };
    feed(p2p(0x777, 0, 10), 'j:1', 0); // a joiner's first point-to-point message: delivered
    // 64 invented senders (from 64 hosts, within com's admission rate) push its stream out.
    for (let i = 0; i < 64; i++) feed(p2p(0x1000 + i, 0, 99), `6.6.${i}.1:1`, 1 + i * 20);
    expect(s.stats().nak?.strangersEvicted).toBeGreaterThanOrEqual(1);
    // Its next message shows it ahead; then its retransmission of 0 (asked or not) comes.
    feed(p2p(0x777, 1, 11), 'j:1', 2_000);
    feed(p2p(0x777, 0, 10), 'j:1', 2_001);
    expect(delivered).toEqual([10, 11]); // before: [10, 10, 11]
  });

  it('invented senders cannot push out a forgotten member tombstone', () => {
    const s = stack();
    s.receive(p2p(0x777, 0, 10), 'j:1', 0);
    s.down({ type: 'forget', member: '00000777.1' }, 1);
    for (let i = 0; i < 3_000; i++)
      s.receive(p2p(0x1000 + i, 0, 99), `6.${i >> 8}.${i & 255}.1:1`, 2 + i * 20);
    const out = s.receive(p2p(0x777, 0, 10), 'j:1', 70_000);
    expect(out.some((e) => e.kind === 'up' && e.event.type === 'deliver')).toBe(false);
  });
});

describe('nak: random stream origins (FINDINGS 206, 207)', () => {
  const self = '00000001.1';
  const bad = '00000bad.1';
  type Stack = ReturnType<typeof buildStack>;
  type Effects = ReturnType<Stack['receive']>;
  const sent = (effects: Effects) =>
    effects.flatMap((e) => (e.kind === 'transmit' ? [decodePacket(e.bytes).headers[0] as unknown[]] : []));
  const delivered = (effects: Effects) =>
    effects.flatMap((e) => (e.kind === 'up' && e.event.type === 'deliver' ? [e.event.msg.payload[0]] : []));
  /** A stack with the default options; `members`, if given, its view (0xbad at 'evil:1'). */
  function fresh(members?: string[], secret?: string): { s: Stack; atView: unknown[][] } {
    const s = buildStack(
      parseSpec('nak:com', secret ? { nak: { originSecret: secret } } : {}),
      defaultRegistry(),
      {
        self,
        groupName: 'g',
        random: seededRandom(3),
      },
    );
    if (!members) return { s, atView: [] };
    const addresses = members.map((m) => (m === bad ? 'evil:1' : 'a:1'));
    const atView = sent(s.down({ type: 'view', view: { id: 1, members, addresses, epoch: 1 } } as never, 0));
    return { s, atView };
  }
  const data = (seq: number, byte: number, channel = 0) =>
    encodePacket({
      type: PacketType.Stack,
      flags: channel === 0 ? 0 : Flags.Unicast,
      groupId: groupIdOf('g'),
      sender: { node: 0xbad, inc: 1 },
      headers: [channel === 0 ? [1, 0, seq] : [1, 1, seq, self]],
      payload: new Uint8Array([byte]),
    });

  it('asks each member of a new view where its streams begin, and takes only the answer echoing it', () => {
    const { s, atView } = fresh([self, bad]);
    // One Sync per stream of the other member: its cast stream and its stream to us.
    expect(atView.map((h) => h.slice(0, 2))).toEqual([
      [7, 1],
      [7, 0],
    ]);
    const nonce = atView.find((h) => h[1] === 0)![2] as number;
    // A spray at the positions of a young stream, then the sender's own first cast far away.
    for (let seq = 0; seq <= 2_000; seq += 100)
      expect(delivered(s.receive(data(seq, 9), 'evil:1', 1))).toEqual([]);
    const origin = 2 ** 40 + 12_345;
    expect(delivered(s.receive(data(origin, 1), 'evil:1', 2))).toEqual([]);
    // Retried every nakMaxMs while unanswered (a member's stream).
    expect(sent(s.advance(30)).filter((h) => h[0] === 7 && h[1] === 0)).toEqual([[7, 0, nonce]]);
    // An Origin that does not echo the nonce is refused; the echo delivers from the origin on.
    expect(delivered(s.receive(packet([[8, 0, nonce + 1, 0]]), 'evil:1', 31))).toEqual([]);
    expect(s.stats().nak?.echoesRefused).toBe(1);
    expect(delivered(s.receive(packet([[8, 0, nonce, origin]]), 'evil:1', 32))).toEqual([1]);
    expect(delivered(s.receive(data(origin + 1, 2), 'evil:1', 33))).toEqual([2]);
    expect(s.stats().nak).toMatchObject({ delivered: 2, pending: 0, unsynced: 1 }); // the p2p one
  });

  it('answers a Sync before the stream exists with where it will begin: the cast stream to members only', () => {
    const secret = 'ab'.repeat(32);
    const { s } = fresh([self, '00000002.1'], secret);
    expect(sent(s.receive(packet([[7, 0, 77]]), 'evil:1', 1))).toEqual([]);
    expect(s.stats().nak?.strangerSyncs).toBe(1);
    // To a stranger, its own point-to-point stream: where it will begin, before anything is sent.
    const p2pAnswer = sent(s.receive(packet([[7, 1, 78]]), 'evil:1', 2));
    expect(p2pAnswer).toHaveLength(1);
    const p2pOrigin = p2pAnswer[0]![3] as number;
    expect(p2pAnswer[0]).toEqual([8, 1, 78, p2pOrigin]);
    const p2p = s.down(
      { type: 'send', to: bad, msg: { headers: [], payload: new Uint8Array([2]) }, qos: { order: 'fifo' } },
      3,
    );
    expect(sent(p2p).find((h) => h[0] === 1)).toEqual([1, 1, p2pOrigin, bad]);
    // The cast stream: answered once the asker is a member, and where casts then begin.
    s.down(
      {
        type: 'view',
        view: { id: 2, members: [self, bad], addresses: ['a:1', 'evil:1'], epoch: 1 },
      } as never,
      4,
    );
    const castAnswer = sent(s.receive(packet([[7, 0, 79]]), 'evil:1', 5));
    const origin = castAnswer[0]![3] as number;
    expect(castAnswer).toEqual([[8, 0, 79, origin]]);
    expect(origin).not.toBe(p2pOrigin);
    expect(origin).toBeLessThan(2 ** 48);
    const cast = s.down(
      { type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } },
      6,
    );
    expect(sent(cast).find((h) => h[0] === 1)).toEqual([1, 0, origin]);
    // Another secret, other origins: nothing to count from without it.
    const other = fresh([self, bad], 'cd'.repeat(32)).s;
    expect(sent(other.receive(packet([[7, 0, 80]]), 'evil:1', 1))[0]![3]).not.toBe(origin);
  });

  it('asks a sender heard by discovery for its stream to us, once', () => {
    const { s } = fresh();
    const discovery = encodePacket({
      type: PacketType.Discovery,
      flags: Flags.Unicast,
      groupId: groupIdOf('g'),
      sender: { node: 0xbad, inc: 1 },
      headers: [[0]],
      payload: new Uint8Array(0),
    });
    expect(sent(s.receive(discovery, 'evil:1', 0)).map((h) => h.slice(0, 2))).toEqual([[7, 1]]);
    expect(sent(s.receive(discovery, 'evil:1', 1))).toEqual([]);
    // A stranger's stream is not asked again by timer, only when more of it comes.
    let syncs = 0;
    for (let t = 2; t < 2_000; t += 10) syncs += sent(s.advance(t)).filter((h) => h[0] === 7).length;
    expect(syncs).toBe(0);
    expect(s.stats().nak?.syncsSent).toBe(1);
  });

  it("takes a Gone only when it echoes the nonce of the receiver's NAKs", () => {
    const { s, atView } = fresh([self, bad]);
    const nonce = atView.find((h) => h[1] === 0)![2] as number;
    const origin = 5_000_000;
    s.receive(packet([[8, 0, nonce, origin]]), 'evil:1', 1);
    s.receive(data(origin + 3, 3), 'evil:1', 2);
    const naks = sent(s.advance(100)).filter((h) => h[0] === 2);
    expect(naks).toEqual([[2, 0, nonce, origin, origin + 2]]);
    expect(s.receive(packet([[4, 0, origin + 3, nonce + 1]]), 'evil:1', 101)).toEqual([]);
    expect(s.stats().nak).toMatchObject({ echoesRefused: 1, lost: 0 });
    expect(delivered(s.receive(packet([[4, 0, origin + 3, nonce]]), 'evil:1', 102))).toEqual([3]);
    expect(s.stats().nak?.lost).toBe(3);
  });

  it("releases what a member's stream held when its sender never answers a Sync (FINDINGS 214)", () => {
    // Forged Data on the point-to-point stream of a member that never sends us any, from its
    // address: held unchecked (a member's stream has no byte cap) and asked for every 100 ms
    // for as long as the sender stays in the view, since it has no such stream to answer for.
    const { s } = fresh([self, bad]);
    const p2pSyncs = (effects: Effects) => sent(effects).filter((h) => h[0] === 7 && h[1] === 1).length;
    const big = (seq: number) =>
      encodePacket({
        type: PacketType.Stack,
        flags: Flags.Unicast,
        groupId: groupIdOf('g'),
        sender: { node: 0xbad, inc: 1 },
        headers: [[1, 1, seq, self]],
        payload: new Uint8Array(2_000),
      });
    for (let k = 0; k < 2_000; k++) s.receive(big(k * 7_919 + 13), 'evil:1', 1);
    expect(s.stats().nak!.pendingBytes).toBeGreaterThan(4_000_000);
    let asked = 0;
    for (let t = 10; t <= 5_000; t += 10) asked += p2pSyncs(s.advance(t));
    expect(asked).toBe(31); // 32 rounds in 2.5 s, the first as the view came
    let syncs = 0;
    for (let t = 5_010; t <= 15_000; t += 10) syncs += sent(s.advance(t)).filter((h) => h[0] === 7).length;
    expect(s.stats().nak).toMatchObject({ pendingBytes: 0, pending: 0 });
    expect(syncs).toBe(0);
    // The sender's own stream, when it comes, still starts where the sender says.
    const origin = 2 ** 44 + 5;
    const ask = sent(s.receive(data(origin, 1, 1), 'evil:1', 15_001)).find((h) => h[0] === 7)!;
    expect(ask).toEqual([7, 1, ask[2]]);
    expect(delivered(s.receive(packet([[8, 1, ask[2], origin]]), 'evil:1', 15_002))).toEqual([1]);
  });

  const toStranger = (effects: Effects) =>
    effects.filter(
      (e) =>
        e.kind === 'transmit' &&
        e.to === 'evil:1' &&
        (decodePacket(e.bytes).headers[0] as unknown[])[0] === 7,
    ).length;

  it('a point-to-point stream from a stranger draws at most one Sync per packet that comes for it', () => {
    // Before any view (a joiner's handshake, which nothing pins yet).
    const { s } = fresh();
    expect(toStranger(s.receive(data(10, 1, 1), 'evil:1', 0))).toBe(1);
    let syncs = 0;
    for (let t = 1; t < 2_000; t += 10) syncs += toStranger(s.advance(t));
    expect(syncs).toBe(0);
    expect(toStranger(s.receive(data(11, 1, 1), 'evil:1', 2_001))).toBe(1);
  });

  it('asks a stranger nothing while it holds a view, takes no Origin from it, and asks once it is a member (FINDINGS 215)', () => {
    // com pins no address for a sender outside the view: a Sync went to whoever spoke last in
    // its id, and a forger that spoke first in a joiner's id answered with an origin of its own.
    const { s } = fresh([self, '00000002.1']);
    expect(toStranger(s.receive(data(10, 1, 1), 'evil:1', 0))).toBe(0);
    expect(toStranger(s.receive(data(2 ** 40, 7), 'evil:1', 1))).toBe(0);
    // (the member's two streams were asked as the view came)
    expect(s.stats().nak).toMatchObject({ syncsWithheld: 2, syncsSent: 2, unsynced: 4 });
    // An Origin from it is refused whatever it echoes (it was sent no nonce).
    expect(delivered(s.receive(packet([[8, 0, 0, 2 ** 40]]), 'evil:1', 2))).toEqual([]);
    expect(s.stats().nak?.strangerOrigins).toBe(1);
    // The view that lists it: both its streams asked at once, at the address the view gives.
    const view = { id: 2, members: [self, '00000002.1', bad], addresses: ['a:1', 'b:1', 'evil:1'], epoch: 1 };
    const asked = sent(s.down({ type: 'view', view } as never, 3)).filter((h) => h[0] === 7);
    expect(asked.map((h) => h[1]).sort()).toEqual([0, 1]);
    const nonce = asked.find((h) => h[1] === 0)![2] as number;
    expect(delivered(s.receive(packet([[8, 0, nonce, 2 ** 40]]), 'evil:1', 4))).toEqual([7]);
  });

  it("starts a stranger's cast stream at its join point, with no Sync (FINDINGS 215)", () => {
    const { s } = fresh([self, '00000002.1']);
    const origin = 2 ** 41 + 3;
    expect(delivered(s.receive(data(origin + 1, 2), 'evil:1', 0))).toEqual([]);
    expect(delivered(s.down({ type: 'expect', member: bad, seq: origin }, 1))).toEqual([]);
    expect(delivered(s.receive(data(origin, 1), 'evil:1', 2))).toEqual([1, 2]);
    // The view that lists it asks only for its point-to-point stream.
    const view = { id: 2, members: [self, '00000002.1', bad], addresses: ['a:1', 'b:1', 'evil:1'], epoch: 1 };
    expect(
      sent(s.down({ type: 'view', view } as never, 3))
        .filter((h) => h[0] === 7)
        .map((h) => h[1]),
    ).toEqual([1]);
  });

  it('under membership, asks a stranger before a view only once it is pinned, and there (FINDINGS 215)', () => {
    const { s } = fresh();
    s.down({ type: 'castNext' }, 0); // as gms does when it starts joining
    const to = (effects: Effects, address: string) =>
      effects.flatMap((e) =>
        e.kind === 'transmit' && e.to === address ? [decodePacket(e.bytes).headers[0] as unknown[]] : [],
      );
    // Its stream to us (an Install, in a coordinator's id) from evil:1: not asked, nothing pinned.
    expect(sent(s.receive(data(10, 1, 1), 'evil:1', 1))).toEqual([]);
    expect(s.stats().nak?.syncsWithheld).toBe(1);
    // Membership proved the id at good:1: asked there at once (a new nonce), and it stays there.
    const asked = to(s.down({ type: 'pin', member: bad, address: 'good:1' }, 2), 'good:1');
    expect(asked.map((h) => h.slice(0, 2))).toEqual([[7, 1]]);
    const nonce = asked[0]![2] as number;
    // Renewed at the same address: no new nonce, no new Sync (an Origin on its way still counts).
    expect(sent(s.down({ type: 'pin', member: bad, address: 'good:1' }, 3))).toEqual([]);
    // Its stack packets from elsewhere are refused, an Origin echoing the nonce included.
    s.receive(packet([[8, 1, nonce, 10]]), 'evil:1', 4);
    expect(s.stats().com?.pinMismatch).toBe(1);
    expect(s.stats().nak?.unsynced).toBe(1);
    // Retried while unanswered, at the pin.
    expect(to(s.advance(30), 'good:1').filter((h) => h[0] === 7)).toEqual([[7, 1, nonce]]);
    const origin = 2 ** 43;
    const fromGood = encodePacket({
      type: PacketType.Stack,
      flags: Flags.Unicast,
      groupId: groupIdOf('g'),
      sender: { node: 0xbad, inc: 1 },
      headers: [[1, 1, origin, self]],
      payload: new Uint8Array([4]),
    });
    s.receive(fromGood, 'good:1', 31);
    expect(delivered(s.receive(packet([[8, 1, nonce, origin]]), 'good:1', 32))).toEqual([4]);
    // A view drops the pins: its members' addresses are the view's.
    s.down({ type: 'view', view: { id: 1, members: [self, bad], addresses: ['a:1', 'b:1'], epoch: 1 } }, 40);
    expect(s.receive(data(origin + 1, 5, 1), 'good:1', 41).length).toBe(0);
    expect(s.stats().com?.addressMismatch).toBe(1);
  });

  it('keeps one pinned id an address: ids proven at one address replace each other there', () => {
    const { s } = fresh();
    s.down({ type: 'castNext' }, 0);
    s.down({ type: 'pin', member: bad, address: 'good:1' }, 1);
    // Another id proven at good:1 (a forger there proves as many as it likes): bad is no longer
    // pinned, neither asked again nor sent to there, nor refused from elsewhere.
    s.down({ type: 'pin', member: '00000b0b.1', address: 'good:1' }, 2);
    // bad's Sync of the first pin is not retried.
    const syncs = s.stats().nak?.syncsSent ?? 0;
    s.advance(25);
    expect(s.stats().nak?.syncsSent).toBe(syncs + 1); // b0b's retry alone
    const withheld = s.stats().nak?.syncsWithheld ?? 0;
    expect(sent(s.receive(data(10, 1, 1), 'evil:1', 26))).toEqual([]);
    expect(s.stats().com?.pinMismatch ?? 0).toBe(0);
    expect(s.stats().nak?.syncsWithheld).toBe(withheld + 1);
  });

  it('tells a layer above where its cast stream stands, and then waits for join points before a view', () => {
    const { s } = fresh();
    const next = (at: number) =>
      s
        .down({ type: 'castNext' }, at)
        .flatMap((e) => (e.kind === 'up' && e.event.type === 'castNext' ? [e.event.seq] : []));
    const [origin] = next(0);
    expect(origin).toBeGreaterThan(0);
    s.down({ type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } }, 1);
    expect(next(2)).toEqual([origin! + 1]);
    // A stranger's cast stream before any view: no Sync (the Install gives its join point).
    expect(toStranger(s.receive(data(5, 1), 'evil:1', 3))).toBe(0);
    expect(s.stats().nak?.syncsWithheld).toBe(1);
  });
});

describe("a NAK in a member's name from its address (keyless, off the path)", () => {
  // A member's point-to-point stream stays buffered (up to `maxBuffer` messages: nothing
  // acknowledges it), a state transfer's chunks included. One forged NAK naming [0, 2^53) from
  // the receiver's address drew 512 of them there, 30 MB a datagram (FINDINGS 227).
  it('serves no range from below where the stream began, and the receiver its own', () => {
    const s = buildStack(parseSpec('nak:com', {}), defaultRegistry(), {
      self: '00000001.1',
      groupName: 'g',
      random: seededRandom(1),
    });
    const b = '00000bad.1';
    s.down(
      { type: 'view', view: { id: 1, members: ['00000001.1', b], addresses: ['a:1', 'b:1'], epoch: 1 } },
      0,
    );
    const chunk = new Uint8Array(60_000);
    for (let i = 0; i < 600; i++)
      s.down({ type: 'send', to: b, msg: { headers: [], payload: chunk }, qos: { order: 'fifo' } }, 1);
    s.advance(5_000);
    const fromB = (headers: unknown[]) =>
      encodePacket({
        type: PacketType.Stack,
        flags: Flags.Unicast,
        groupId: groupIdOf('g'),
        sender: { node: 0xbad, inc: 1 },
        headers,
        payload: new Uint8Array(0),
      });
    const sent = (effects: ReturnType<typeof s.advance>) =>
      effects.reduce((n, e) => n + (e.kind === 'transmit' ? e.bytes.length : 0), 0);
    let drawn = 0;
    for (let k = 0; k < 10; k++) {
      const at = 10_000 + k * 20;
      drawn += sent([
        ...s.receive(fromB([[2, 1, 7, 0, Number.MAX_SAFE_INTEGER]]), 'b:1', at),
        ...s.advance(at + 10),
      ]);
    }
    expect(drawn).toBeLessThan(2_000); // 307,467,392 bytes before
    // The receiver, which learnt the origin by its Sync, is served.
    const answer = s.receive(fromB([[7, 1, 5]]), 'b:1', 11_000);
    const origin = answer.flatMap((e) =>
      e.kind === 'transmit' ? [decodePacket(e.bytes).headers[0] as number[]] : [],
    )[0]!;
    expect(origin.slice(0, 3)).toEqual([8, 1, 5]);
    const start = origin[3]!;
    const resent = s
      .receive(fromB([[2, 1, 5, start + 10, start + 12]]), 'b:1', 11_100)
      .filter((e) => e.kind === 'transmit');
    expect(resent.map((e) => (e.kind === 'transmit' ? decodePacket(e.bytes).headers[0] : undefined))).toEqual(
      [
        [1, 1, start + 10, b],
        [1, 1, start + 11, b],
        [1, 1, start + 12, b],
      ],
    );
  });
});
