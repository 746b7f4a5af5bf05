import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { toWireError } from '../../runtime/rpc/errors.js';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { MAX_KEPT } from '../../runtime/rpc/outcomes.js';
import { ClientPacketDrop, decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { DecodeError } from '../../runtime/wire/errors.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

/** Decoded maps whose own keys shadow what `String()` and template literals call. */
const HOSTILE: unknown[] = [
  { toString: 1 },
  { valueOf: 1, toString: 1 },
  { [Symbol.toPrimitive]: 1 },
  [],
  [{ toString: 1 }],
  null,
  -1,
  1.5,
  2 ** 60,
  'x'.repeat(5_000),
  new Uint8Array(3),
];

/** A valid tuple of each group message kind. */
const GROUP_TEMPLATES: unknown[][] = [
  [1, 'c:1', 'svc', 'm', new Uint8Array([0x90]), 'first', '127.0.0.1:9', 'n1.1', 5, 0, false],
  [2, 'c:1', 'n1.1', [1, new Uint8Array([0xc0])]],
  [3, 'lock', 'n1.1'],
  [4, 'lock', 'n1.1'],
  [5, 'c:1', 'svc', 'm', new Uint8Array([0x90]), 'all', '127.0.0.1:9', 3],
  [6, 'c:1', ['n1.1'], 'n2.1', 5],
  [1, 'c:1', 'svc', 'm', new Uint8Array([0x90]), 'first', '127.0.0.1:9', 'n1.1', 5, 0, 2],
  [6, 'c:1', 2, 'n2.1', 5],
  // A request with the client's kept counters (FINDINGS 91).
  [1, 'c:9', 'svc', 'm', new Uint8Array([0x90]), 'first', '127.0.0.1:9', 'n1.1', 5, 8, 2, [3, 4]],
  [
    7,
    [
      encodeValue([
        1,
        'c:1',
        'svc',
        'm',
        new Uint8Array([0x90]),
        'first',
        '127.0.0.1:9',
        'n1.1',
        5,
        0,
        false,
      ]),
    ],
  ],
];

function decodeOnlyDecodeError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e, String((e as Error).message)).toBeInstanceOf(DecodeError);
  }
}

describe('rpc decoders refuse hostile values with DecodeError only', () => {
  it('decodeGroupMsg([{"toString":1}]) is a DecodeError naming the kind safely', () => {
    const bytes = encodeValue([{ toString: 1 }]);
    expect(() => decodeGroupMsg(bytes)).toThrow(DecodeError);
    expect(() => decodeGroupMsg(bytes)).toThrow(/unknown group message kind a map/);
  });

  it('every field of every group message kind, replaced by each hostile value', () => {
    let cases = 0;
    for (const template of GROUP_TEMPLATES) {
      expect(() => decodeGroupMsg(encodeValue(template))).not.toThrow();
      for (let i = 0; i < template.length; i++)
        for (const h of HOSTILE) {
          const v = [...template];
          v[i] = h;
          decodeOnlyDecodeError(() => decodeGroupMsg(encodeValue(v)));
          cases++;
        }
    }
    expect(cases).toBe(GROUP_TEMPLATES.reduce((n, t) => n + t.length * HOSTILE.length, 0));
  });

  it("an earlier release's request and fence decode to issue 0 and a fence that refuses nothing", () => {
    const old = GROUP_TEMPLATES.filter((t) => (t[0] === 1 && t.length === 11) || t[0] === 6).map((t) =>
      decodeGroupMsg(encodeValue(t)),
    );
    expect(old.map((m) => (m.kind === 'request' ? m.issue : m.kind === 'fence' ? m.upTo : -1))).toEqual([
      0, 0, 2, 2,
    ]);
  });

  it('kept counters: a list of at most MAX_KEPT counters, in a request and in a call', () => {
    const request = GROUP_TEMPLATES.find((t) => t.length === 12)!;
    expect(decodeGroupMsg(encodeValue(request))).toMatchObject({ settled: 8, keep: [3, 4] });
    const long = Array.from({ length: MAX_KEPT + 1 }, (_, i) => i + 1);
    expect(() => decodeGroupMsg(encodeValue([...request.slice(0, 11), long]))).toThrow(DecodeError);
    expect(decodeGroupMsg(encodeValue([...request.slice(0, 11), long.slice(1)]))).toMatchObject({
      keep: long.slice(1),
    });
    const gid = groupIdOf('g');
    const call = (keep: unknown) =>
      encodePacket({
        type: PacketType.Client,
        flags: 0,
        groupId: gid,
        sender: { node: 1, inc: 0 },
        headers: [],
        payload: encodeValue([1, 'c:9', 's', 'm', new Uint8Array([0x90]), 'first', null, 8, 2, keep]),
      });
    expect(decodeClientPacket(call([3, 4]), gid).packet).toMatchObject({
      kind: 'call',
      settled: 8,
      keep: [3, 4],
    });
    for (const bad of [long, [-1], [1.5], 'x', [null]])
      expect(() => decodeClientPacket(call(bad), gid)).toThrow(DecodeError);
  });

  it('a client packet whose kind is a map is dropped as malformed, by the parser not by a TypeError', () => {
    const groupId = groupIdOf('g');
    const raw = encodePacket({
      type: PacketType.Client,
      flags: 0,
      groupId,
      sender: { node: 1, inc: 1 },
      headers: [],
      payload: encodeValue([{ toString: 1 }]),
    });
    let caught: unknown;
    try {
      decodeClientPacket(raw, groupId);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ClientPacketDrop);
    expect((caught as Error).message).toBe('unknown client message kind a map');
  });

  it('a calls packet: 1 to 256 call entries, each checked as a call, nothing else', () => {
    const groupId = groupIdOf('g');
    const call = [1, 'c:1', 'svc', 'm', new Uint8Array([0x90]), 'first', null, null];
    const packet = (payload: unknown) =>
      encodePacket({
        type: PacketType.Client,
        flags: 0,
        groupId,
        sender: { node: 1, inc: 1 },
        headers: [],
        payload: encodeValue(payload),
      });
    const ok = decodeClientPacket(
      packet([4, [call, [...call.slice(0, 1), 'c:2', ...call.slice(2)]]]),
      groupId,
    );
    expect(ok.packet.kind === 'calls' && ok.packet.calls.map((c) => c.id)).toStrictEqual(['c:1', 'c:2']);
    for (const bad of [
      [4, []],
      [4, Array.from({ length: 257 }, () => call)],
      [4, [[2, 'c:1', null]]],
      [4, [[4, [call]]]],
      [4, [call.slice(0, 7)]],
      ...HOSTILE.map((h) => [4, [h]]),
      ...HOSTILE.map((h) => [4, h]),
    ])
      expect(() => decodeClientPacket(packet(bad), groupId), JSON.stringify(bad)?.slice(0, 80)).toThrow(
        ClientPacketDrop,
      );
  });

  it('toWireError describes a thrown object without calling its toString', () => {
    const w = toWireError({ toString: 1 }, () => true);
    expect(w).toStrictEqual({
      name: 'Error',
      message: 'non-error value thrown: an object',
      code: 'APP_ERROR',
    });
    const odd = Object.assign(new Error('m'), { name: 7 as unknown as string });
    expect(toWireError(odd, () => true).name).toBe('7');
  });
});
