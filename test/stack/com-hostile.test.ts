// Without a key anyone who can reach a port can invent sender ids: com admits new senders outside
// the view at a bounded rate and keeps the addresses of a bounded number of them.
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { authKeyId, PacketAuth } from '../../runtime/wire/auth.js';
import { encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { readRefusal } from '../../runtime/wire/refusal.js';

const KEY = 'the group key of the com hostile test';
const OTHER = 'another key: not the com hostile one';

const forged = (node: number) =>
  encodePacket({
    type: PacketType.Discovery,
    flags: 0,
    groupId: groupIdOf('g'),
    sender: { node, inc: 1 },
    headers: [[0]],
    payload: new Uint8Array(0),
  });

const stack = () =>
  buildStack(parseSpec('com'), defaultRegistry(), {
    self: '00000001.1',
    groupName: 'g',
    random: seededRandom(1),
  });

/** Where com sends a point-to-point message for `to`. */
const addressOf = (s: ReturnType<typeof stack>, to: string) => {
  const msg = { headers: [], payload: new Uint8Array() };
  const sent = s.down({ type: 'send', to, msg, qos: { order: 'fifo' } }, 3);
  return sent.find((e) => e.kind === 'transmit')?.to;
};

describe('com: senders outside the view', () => {
  it('10,000 invented ids in one second: at most 100 admitted, at most 256 addresses kept', () => {
    const s = stack();
    for (let i = 0; i < 10_000; i++) s.receive(forged(0x1000 + i), `6.6.6.6:${i}`, i / 10);
    const com = s.stats().com!;
    expect(com.received).toBeLessThanOrEqual(201); // the burst of 100, then 100 per second
    expect(com.strangerLimited).toBeGreaterThanOrEqual(9_799);
    expect(com.knownAddresses).toBeLessThanOrEqual(256);
  });

  it('over a long flood the address map stays bounded; view members are never limited', () => {
    const s = stack();
    s.down(
      { type: 'view', view: { id: 1, members: ['00000001.1', '00000bad.1'], addresses: ['a:1', 'b:1'] } },
      0,
    );
    for (let i = 0; i < 5_000; i++) s.receive(forged(0x1000 + i), `6.6.6.6:${i}`, i * 20); // 50/s: all admitted
    let c = s.stats().com!;
    expect(c.knownAddresses).toBeLessThanOrEqual(256 + 2); // and the two members
    expect(c.strangersEvicted).toBeGreaterThan(4_000);
    const before = c.received ?? 0;
    for (let i = 0; i < 1_000; i++) s.receive(forged(0xbad), 'b:1', 100_000);
    c = s.stats().com!;
    expect((c.received ?? 0) - before).toBe(1_000);
  });

  it("a packet in a view member's name from another address is refused, not taken as the member's", () => {
    const s = stack();
    s.down(
      { type: 'view', view: { id: 1, members: ['00000001.1', '00000bad.1'], addresses: ['a:1', 'b:1'] } },
      0,
    );
    s.receive(forged(0xbad), '6.6.6.6:1', 1); // the blaster, in 00000bad.1's name
    expect(s.stats().com).toMatchObject({ received: 0, addressMismatch: 1 });
    s.receive(forged(0xbad), 'b:1', 2); // the member itself
    expect(s.stats().com).toMatchObject({ received: 1, addressMismatch: 1 });
    expect(addressOf(s, '00000bad.1')).toBe('b:1');
  });
});

describe('com: refusal notices to joiners that can never get in (issue 12)', () => {
  const join = (group: string, flags: number) =>
    encodePacket({
      type: PacketType.Discovery,
      flags,
      groupId: groupIdOf(group),
      sender: { node: 0x77, inc: 1 },
      headers: [[9, '', '']],
      payload: new Uint8Array(0),
    });
  const sentBy = (effects: ReturnType<ReturnType<typeof stack>['receive']>) =>
    effects.flatMap((e) => (e.kind === 'transmit' ? [{ to: e.to, bytes: e.bytes }] : []));
  const keyed = (group: string) =>
    buildStack(parseSpec('com', { com: { key: KEY } }), defaultRegistry(), {
      self: '00000002.1',
      groupName: group,
      random: seededRandom(1),
    });

  it('answers a unicast Join of another group, naming its own group; never a beacon or a notice', () => {
    const s = stack();
    const out = sentBy(s.receive(join('h', Flags.Unicast), '6.6.6.6:1', 1));
    expect(out).toHaveLength(1);
    expect(out[0]!.to).toBe('6.6.6.6:1');
    expect(readRefusal(out[0]!.bytes)).toEqual({
      reason: 'group',
      groupId: groupIdOf('g'),
      keyId: '',
      groupName: 'g',
    });
    expect(out[0]!.bytes.length).toBeLessThanOrEqual(join('h', Flags.Unicast).length + 16);
    expect(sentBy(s.receive(join('h', 0), '6.6.6.6:1', 2))).toEqual([]); // a beacon
    // The notice reaching a member of the other group, or of its own: no answer (no loop).
    const other = buildStack(parseSpec('com'), defaultRegistry(), {
      self: '00000003.1',
      groupName: 'h',
      random: seededRandom(1),
    });
    expect(sentBy(other.receive(out[0]!.bytes, '1.1.1.1:1', 3))).toEqual([]);
    const same = buildStack(parseSpec('com'), defaultRegistry(), {
      self: '00000009.1',
      groupName: 'g',
      random: seededRandom(1),
    });
    expect(sentBy(same.receive(out[0]!.bytes, '1.1.1.1:1', 3))).toEqual([]);
    expect(same.stats().com).toMatchObject({ received: 0, refused: 1 });
  });

  it('at most 10 a second: a flood of foreign Joins is not amplified', () => {
    const s = stack();
    let sent = 0;
    for (let i = 0; i < 1_000; i++)
      sent += sentBy(s.receive(join('h', Flags.Unicast), '6.6.6.6:1', i)).length;
    expect(sent).toBeLessThanOrEqual(20); // the burst of 10, then 10 per second
    expect(s.stats().com!.refusalsSent).toBe(sent);
  });

  it('with a key: a Join without one gets needkey, one under another key gets key; both name the key id, not the group', () => {
    const s = keyed('g');
    const [plain] = sentBy(s.receive(join('g', Flags.Unicast), '6.6.6.6:1', 1));
    expect(readRefusal(plain!.bytes)).toMatchObject({
      reason: 'needkey',
      keyId: authKeyId(KEY),
      groupName: '',
    });
    const wrong = new PacketAuth(OTHER).encode({
      type: PacketType.Discovery,
      flags: Flags.Unicast,
      groupId: groupIdOf('g'),
      sender: { node: 0x78, inc: 1 },
      headers: [[9, '', '']],
      payload: new Uint8Array(0),
    });
    const [bad] = sentBy(s.receive(wrong, '6.6.6.6:2', 2));
    expect(readRefusal(bad!.bytes)).toMatchObject({ reason: 'key', keyId: authKeyId(KEY) });
    // And a member without a key answers a signed Join with nokey.
    const [signed] = sentBy(stack().receive(wrong, '6.6.6.6:2', 2));
    expect(readRefusal(signed!.bytes)).toMatchObject({ reason: 'nokey', keyId: '' });
  });
});

describe('com: one host inventing ids does not take every admission (session 30)', () => {
  it('a joiner at another host is admitted during a flood of 1,000 new ids a second from one host', () => {
    // Before: the flood took every token of the shared bucket as it came back, and the joiner,
    // arriving 5 s into it, had none of its 125 Joins (one per 200 ms for 25 s) admitted.
    const s = stack();
    s.down({ type: 'view', view: { id: 1, members: ['00000001.1'], addresses: ['a:1'] } }, 0);
    const join = (node: number) =>
      encodePacket({
        type: PacketType.Discovery,
        flags: Flags.Unicast,
        groupId: groupIdOf('g'),
        sender: { node, inc: 1 },
        headers: [[0, '', '']],
        payload: new Uint8Array(0),
      });
    let invented = 0x100000;
    let sent = 0;
    let admitted = 0;
    for (let ms = 0; ms < 30_000; ms++) {
      // From one host, a new port for every id.
      s.receive(join(invented++), `6.6.6.6:${1 + (ms % 60_000)}`, ms);
      if (ms >= 5_000 && ms % 200 === 0) {
        sent++;
        const before = s.stats().com!.received ?? 0;
        s.receive(join(0xabc), '10.0.0.5:1', ms);
        if ((s.stats().com!.received ?? 0) > before) admitted++;
      }
    }
    expect(sent).toBe(125);
    expect(admitted).toBe(125);
    // The flooding host got its half of the rate (50 a second, burst 50), no more.
    expect(s.stats().com!.received ?? 0).toBeLessThanOrEqual(50 + 30 * 50 + 125);
  });
});
