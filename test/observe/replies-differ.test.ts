// repliesDiffer: whether the members' answers to one ordered request disagree. The client hands it
// each `ok` value's bytes as they arrived; equal bytes settle it, and only differing bytes are
// compared as values (an equal value may be encoded otherwise by a member of another release).
import { describe, expect, it } from 'vitest';
import { repliesDiffer } from '../../runtime/observe/replies.js';
import type { ReplyEntry } from '../../runtime/rpc/api.js';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';

const ok = (member: string, bytes: Uint8Array): ReplyEntry<unknown> => ({
  member,
  status: 'ok',
  value: decodeValue(bytes),
});
const error = (member: string, code: string, message = 'no'): ReplyEntry<unknown> => ({
  member,
  status: 'error',
  error: { name: 'Error', message, code },
});

describe('repliesDiffer', () => {
  const seven = encodeValue({ balance: 7 });
  const eight = encodeValue({ balance: 8 });
  // 7 as a uint8 (0xcc 0x07) where msgpackr writes a positive fixint: the same value, other bytes.
  const sevenWide = Uint8Array.from([...seven.subarray(0, seven.length - 1), 0xcc, 7]);

  it('equal and unequal values, with and without the received bytes', () => {
    expect(decodeValue(sevenWide)).toEqual({ balance: 7 });
    const cases: [ReplyEntry<unknown>[], Map<string, Uint8Array>, boolean][] = [
      [
        [ok('a', seven), ok('b', seven), ok('c', seven)],
        new Map([
          ['a', seven],
          ['b', seven],
          ['c', seven],
        ]),
        false,
      ],
      [
        [ok('a', seven), ok('b', eight)],
        new Map([
          ['a', seven],
          ['b', eight],
        ]),
        true,
      ],
      [
        [ok('a', seven), ok('b', sevenWide)],
        new Map([
          ['a', seven],
          ['b', sevenWide],
        ]),
        false,
      ],
      [[ok('a', seven), ok('b', eight)], new Map(), true],
      [[ok('a', seven), ok('b', seven)], new Map(), false],
      [[ok('a', seven), error('b', 'E')], new Map([['a', seven]]), true],
      [[error('a', 'E'), error('b', 'E')], new Map(), false],
      [[error('a', 'E'), error('b', 'E', 'other')], new Map(), true],
      [
        [ok('a', seven), { member: 'b', status: 'failed' }, ok('c', seven)],
        new Map([
          ['a', seven],
          ['c', seven],
        ]),
        false,
      ],
    ];
    for (const [entries, bytes, differ] of cases)
      expect(repliesDiffer(entries, (e) => bytes.get(e.member))).toBe(differ);
  });
});
