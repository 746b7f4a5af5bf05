import { describe, expect, it } from 'vitest';
import { ClientSession, COUNTERS_PER_MS } from '../../runtime/rpc/session.js';

describe('client session (the client half)', () => {
  it('the watermark stops below the lowest unsettled id of its own, and ignores other clients’ ids', () => {
    const s = new ClientSession('me', 0);
    const [a, b, c] = [s.next(), s.next(), s.next()];
    expect([a, b, c]).toStrictEqual(['me:1', 'me:2', 'me:3']);
    for (const id of [a, b, c]) s.hold(id);
    expect(s.watermark(c)).toBe(0);
    s.release(a);
    s.release(c);
    expect(s.watermark(c)).toBe(1); // b is still unsettled
    s.hold(b); // held twice: pending and remembered
    s.release(b);
    expect(s.watermark(b)).toBe(1);
    s.release(b);
    expect(s.watermark(b)).toBe(3);
    expect(s.watermark('you:1')).toBeUndefined();
  });

  it('numbers each incarnation above the previous one’s ids (clock × COUNTERS_PER_MS)', () => {
    const first = new ClientSession('pinned', 1_000);
    const again = new ClientSession('pinned', 1_001);
    expect(first.next()).toBe(`pinned:${1_000 * COUNTERS_PER_MS + 1}`);
    expect(again.next()).toBe(`pinned:${1_001 * COUNTERS_PER_MS + 1}`);
  });

  it('an id the caller chose counts as issued: later settled ids below it are settled', () => {
    const s = new ClientSession('me', 0);
    s.hold('me:9');
    expect(s.watermark('me:9')).toBe(8);
    s.release('me:9');
    expect(s.watermark('me:10')).toBe(9);
    expect(s.next()).toBe('me:10');
  });
});
