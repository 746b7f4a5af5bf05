import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtime/layers/index.js';
import { buildStack, parseSpec } from '../../runtime/stack/builder.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { decodePacket, encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';

const packet = (headers: unknown[], group = 'g') =>
  encodePacket({
    type: PacketType.Stack,
    flags: 0,
    groupId: groupIdOf(group),
    sender: { node: 0xbad, inc: 1 },
    headers,
    payload: new Uint8Array(0),
  });

function stack() {
  return buildStack(parseSpec('nak:com', { nak: { maxPending: 1000 } }), defaultRegistry(), {
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
    expect(naks).toEqual([[2, 0, 0, 1000]]);
  });

  it('answers a NAK for an absurd range without scanning it', () => {
    const s = stack();
    s.down({ type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } }, 0);
    const started = performance.now();
    s.receive(packet([[2, 0, 0, Number.MAX_SAFE_INTEGER]]), 'evil:1', 100);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('ignores a forged Gone that would skip the stream far ahead', () => {
    const s = stack();
    s.receive(packet([[4, 0, Number.MAX_SAFE_INTEGER]]), 'evil:1', 0);
    const ok = s.receive(packet([[1, 0, 0]]), 'evil:1', 1);
    expect(ok.some((e) => e.kind === 'up' && e.event.type === 'deliver')).toBe(true);
  });

  it('refuses a NAK range with lo > hi before resending anything', () => {
    const s = stack();
    s.down({ type: 'cast', msg: { headers: [], payload: new Uint8Array([1]) }, qos: { order: 'fifo' } }, 0);
    const out = s.receive(packet([[2, 0, 0, 0, 5, 1]]), 'evil:1', 100);
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
