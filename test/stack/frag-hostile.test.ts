import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { heldBytes as held } from '../support/heap.js';

/** `packets` datagrams from `sender`, each packing `perPacket` one-byte fragments of one run of
 * `total` fragments that never ends (nak:pack below frag). */
function oneByteRun(sender: number, total: number, packets: number, perPacket: number): Uint8Array[] {
  const one = new Uint8Array([7]);
  let seq = 0;
  const out: Uint8Array[] = [];
  for (let p = 0; p < packets; p++) {
    const subs: unknown[] = [];
    for (let i = 0; i < perPacket; i++) {
      subs.push([
        [
          [1, total, seq, total],
          [1, 0, seq],
        ],
        one,
      ]);
      seq++;
    }
    out.push(
      encodePacket({
        type: PacketType.Stack,
        flags: 0,
        groupId: groupIdOf('g'),
        sender: { node: sender, inc: 1 },
        headers: [[1, subs]],
        payload: new Uint8Array(0),
      }),
    );
  }
  return out;
}

/** frag over nak, pack and com, as member 00000001.1 of group `g`. */
function fragStack(maxMessage: number) {
  return buildStack(
    parseSpec('frag:nak:pack:com', { frag: { maxMessage }, nak: { randomOrigins: false } }),
    defaultRegistry(),
    {
      self: '00000001.1',
      groupName: 'g',
      random: seededRandom(1),
    },
  );
}

describe('frag facing one-byte fragments', () => {
  it('holds about maxMessage bytes for a stranger, not ~100 bytes per one-byte fragment', () => {
    // frag bounds what senders outside the view hold by the payload bytes of their partial
    // messages (`maxMessage` over all of them). A one-byte fragment counts one byte, yet holds a
    // Uint8Array view (~100 bytes of heap) and the whole datagram it came in: 2,000 of them
    // packed into each 62 KB datagram, 100,000 in all, held 10.8 MB for 100,000 counted bytes.
    // Extrapolated to the default 64 MiB bound: ~7 GB, past Node's heap limit (a crash), from
    // anyone who can send a keyless group datagrams.
    const maxMessage = 1024 * 1024;
    const s = fragStack(maxMessage);
    const view = { id: 1, members: ['00000001.1'], addresses: ['10.0.0.1:1'], epoch: 1 };
    s.down({ type: 'view', view } as never, 0);
    const PACKETS = 50;
    const PER_PACKET = 2_000;
    const packets = oneByteRun(0xbad, maxMessage, PACKETS, PER_PACKET);
    const before = held();
    for (let p = 0; p < PACKETS; p++) {
      // Each datagram in a buffer of its own, as a transport hands it over.
      const effects = s.receive(new Uint8Array(packets[p]!), '10.9.9.9:1', p);
      expect(effects.filter((e) => e.kind === 'error')).toEqual([]);
    }
    packets.length = 0;
    const grown = held() - before;
    const st = s.stats();
    expect(st.frag!.fragmentsReceived).toBe(PACKETS * PER_PACKET);
    expect(st.frag!.partialBytes).toBeLessThanOrEqual(maxMessage);
    // Before: 10.8 MB (~108 B per one-byte fragment, the 50 datagrams included).
    expect(grown).toBeLessThan(4 * maxMessage);
  });

  it('holds at most about maxMessage bytes for a member sending one-byte fragments', () => {
    // A member (a key holder, or a buggy peer) is bound per stream by `maxMessage` bytes of its
    // message in progress: with one-byte fragments that was ~100 times as much heap.
    const maxMessage = 1024 * 1024;
    const s = fragStack(maxMessage);
    const view = {
      id: 1,
      members: ['00000001.1', '00000bad.1'],
      addresses: ['10.0.0.1:1', '10.9.9.9:1'],
      epoch: 1,
    };
    s.down({ type: 'view', view } as never, 0);
    const packets = oneByteRun(0xbad, maxMessage, 50, 2_000);
    const before = held();
    for (let p = 0; p < packets.length; p++) {
      const effects = s.receive(new Uint8Array(packets[p]!), '10.9.9.9:1', p);
      expect(effects.filter((e) => e.kind === 'error')).toEqual([]);
    }
    packets.length = 0;
    const grown = held() - before;
    expect(s.stats().frag!.partialBytes).toBe(100_000);
    expect(grown).toBeLessThan(4 * maxMessage);
  });
});

describe('frag facing a member that claims a large total', () => {
  it('reserves room for a few fragments of what came, not the total a first fragment claims', () => {
    // Sized at its total from fragment 0 (a member's message, for one buffer and no copy), one
    // one-byte fragment 0 claiming 64 MiB from each of four members reserved 256 MiB of
    // ArrayBuffers for 196 bytes received (helper-107's review of a4d8290).
    const s = fragStack(64 * 1024 * 1024);
    const members = ['00000001.1', '00000002.1', '00000003.1', '00000004.1', '00000005.1'];
    const addresses = members.map((_, i) => `10.0.0.${i + 1}:1`);
    s.down({ type: 'view', view: { id: 1, members, addresses, epoch: 1 } } as never, 0);
    const before = held();
    for (let m = 2; m <= 5; m++) {
      const fragment0 = encodePacket({
        type: PacketType.Stack,
        flags: 0,
        groupId: groupIdOf('g'),
        sender: { node: m, inc: 1 },
        headers: [
          [
            1,
            [
              [
                [
                  [1, 2, 0, 64 * 1024 * 1024],
                  [1, 0, 0],
                ],
                new Uint8Array([7]),
              ],
            ],
          ],
        ],
        payload: new Uint8Array(0),
      });
      const effects = s.receive(fragment0, `10.0.0.${m}:1`, m);
      expect(effects.filter((e) => e.kind === 'error')).toEqual([]);
    }
    expect(s.stats().frag!.fragmentsReceived).toBe(4);
    // Now 64 KiB each (the smallest partial buffer); before, 64 MiB each.
    expect(held() - before).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('frag before the first view', () => {
  it('holds at most 64 streams and maxMessage bytes of partials for invented senders', () => {
    // Senders outside the view are bounded (FINDINGS 77), but before the first view there was no
    // bound at all: a joiner (or a seed waiting to found) held every invented sender's message in
    // progress, 300 of them × 60 KB = 18 MB here, as many as com admits (100 a second) for as long
    // as the join takes. nak already takes every sender for a stranger before the first view.
    const maxMessage = 1024 * 1024;
    const s = fragStack(maxMessage);
    const chunk = new Uint8Array(60_000);
    for (let i = 0; i < 300; i++) {
      const bytes = encodePacket({
        type: PacketType.Stack,
        flags: 0,
        groupId: groupIdOf('g'),
        sender: { node: 0x1000 + i, inc: 1 },
        headers: [[1, 100, 0, maxMessage], [1, 0, 0], [0]],
        payload: chunk,
      });
      // 10 ms apart: com admits each new sender (100 a second).
      const effects = s.receive(bytes, `10.9.${i >> 8}.${i & 255}:1`, i * 10);
      expect(effects.filter((e) => e.kind === 'error')).toEqual([]);
    }
    const st = s.stats().frag!;
    expect(st.fragmentsReceived).toBe(300);
    expect(st.partials).toBeLessThanOrEqual(64);
    expect(st.partialBytes).toBeLessThanOrEqual(maxMessage);
  });
});
