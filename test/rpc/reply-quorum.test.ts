// The client's completion rule for `all` and `majority` calls, and its retransmission timeout,
// each on its own (the client tests drive them through packets and timers).
import { describe, expect, it } from 'vitest';
import type { ReplyEntry } from '../../runtime/rpc/api.js';
import { quorum } from '../../runtime/rpc/reply-quorum.js';
import { RoundTrip } from '../../runtime/rpc/round-trip.js';

const ok = (member: string): ReplyEntry<unknown> => ({ member, status: 'ok', value: 1 });
const failed = (member: string): ReplyEntry<unknown> => ({ member, status: 'failed' });
const of = (...entries: ReplyEntry<unknown>[]) => new Map(entries.map((e) => [e.member, e]));
const ABC = ['a', 'b', 'c'];

describe('quorum', () => {
  it('first and none never wait for a quorum; nor does a call whose members are unknown', () => {
    expect(quorum('first', ABC, of(ok('a')))).toBeUndefined();
    expect(quorum('none', ABC, of(ok('a')))).toBeUndefined();
    expect(quorum('all', [], of(ok('a')))).toBeUndefined();
  });

  it('all: complete once every member answered or failed', () => {
    expect(quorum('all', ABC, of(ok('a'), ok('b')))).toBeUndefined();
    expect(quorum('all', ABC, of(ok('a'), ok('b'), failed('c')))).toEqual({ members: ABC });
  });

  it('majority: complete with more than half answered, listing those that replied', () => {
    expect(quorum('majority', ABC, of(ok('a')))).toBeUndefined();
    expect(quorum('majority', ABC, of(ok('a'), failed('b')))).toBeUndefined();
    expect(quorum('majority', ABC, of(ok('c'), ok('a')))).toEqual({ members: ['a', 'c'] });
    // A failed entry is no answer: 2 of 4 answered is not more than half.
    expect(quorum('majority', [...ABC, 'd'], of(ok('a'), ok('b'), failed('c')))).toBeUndefined();
  });

  it('majority: no majority once too many failed, counting every failed member', () => {
    expect(quorum('majority', ABC, of(failed('a'), failed('b')))).toEqual({
      noMajority: { failed: 2, of: 3 },
    });
    const five = ['a', 'b', 'c', 'd', 'e'];
    expect(quorum('majority', five, of(failed('a'), failed('b')))).toBeUndefined();
    expect(quorum('majority', five, of(failed('a'), failed('b'), failed('e')))).toEqual({
      noMajority: { failed: 3, of: 5 },
    });
  });
});

describe('RoundTrip', () => {
  it('is the floor until sampled, then the round trip plus four deviations within [floor, 16 × floor]', () => {
    const rtt = new RoundTrip();
    expect(rtt.timeout(100)).toBe(100);
    rtt.sample(40); // srtt 40, rttvar 20: 120
    expect(rtt.timeout(100)).toBe(120);
    rtt.sample(40); // rttvar 15: 100
    expect(rtt.timeout(100)).toBe(100);
    for (let i = 0; i < 50; i++) rtt.sample(10_000);
    expect(rtt.timeout(100)).toBe(1_600);
    expect(rtt.timeout(10)).toBe(160);
  });

  it('takes a negative sample (a clock read out of order) as zero', () => {
    const rtt = new RoundTrip();
    rtt.sample(-5);
    expect(rtt.timeout(1)).toBe(1);
  });
});
