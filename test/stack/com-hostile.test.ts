// Without a key anyone who can reach a port can invent sender ids: com admits new senders outside
// the view at a bounded rate and keeps the addresses of a bounded number of them.
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';

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
    const sent = s.down(
      {
        type: 'send',
        to: '00000bad.1',
        msg: { headers: [], payload: new Uint8Array() },
        qos: { order: 'fifo' },
      },
      3,
    );
    expect(sent).toContainEqual(expect.objectContaining({ kind: 'transmit', to: 'b:1' }));
  });
});
