import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import { heldBytes as held } from '../support/heap.js';

describe('nak: what a stranger holds out of order, its bulk where nak does not count it', () => {
  it.each([
    ['past the fields of its own header', (seq: number, junk: Uint8Array) => [[1, 0, seq, junk], [0]]],
    [
      'in the pack header below it',
      (seq: number, junk: Uint8Array) => [
        [1, 0, seq],
        [0, junk],
      ],
    ],
  ])('one stranger stream holds about its 256 KiB cap, junk %s', (_where, headersOf) => {
    // nak counts an out-of-order message as its payload and the headers of the layers above; a
    // header field past those it reads (its own, or a lower layer's, e.g. pack's) is a view into
    // the datagram, which the held payload keeps alive. 1,000 such datagrams of 30 KB with a
    // one-byte payload counted ~30 bytes each and held 30 MB under the stranger stream's 256 KiB.
    const s = buildStack(parseSpec('nak:pack:com'), defaultRegistry(), {
      self: '00000001.1',
      groupName: 'g',
      random: seededRandom(1),
    });
    s.down({ type: 'view', view: { id: 1, members: ['00000001.1'], addresses: ['a:1'] } } as never, 0);
    const before = held();
    for (let seq = 1; seq <= 1_000; seq++) {
      const bytes = encodePacket({
        type: PacketType.Stack,
        flags: 0,
        groupId: groupIdOf('g'),
        sender: { node: 0xbad, inc: 1 },
        headers: headersOf(seq, new Uint8Array(30_000)),
        payload: new Uint8Array([1]),
      });
      const out = s.receive(new Uint8Array(bytes), '6.6.6.6:1', seq);
      expect(out.filter((e) => e.kind === 'error')).toEqual([]);
    }
    const grown = held() - before;
    expect(s.stats().nak!.pending).toBeGreaterThan(0);
    // Before: 30 MB. After: 0.4-1.1 MB (a measurement, noisy under load).
    expect(grown).toBeLessThan(8 * 256 * 1024);
  });
});
