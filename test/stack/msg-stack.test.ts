// Messages as persistent header stacks (`Stacked`, runtime/stack/types.ts) and the order
// layer's ring of stamps (`StampLog`): each checked against the plain representation it replaced
// (a header array copied per push and sliced per pop; a Map by gseq), on random operations.
import { describe, expect, it } from 'vitest';
import { StampLog } from '../../runtime/layers/order.js';
import { popKindHeader } from '../../runtime/stack/header.js';
import { seededRandom } from '../../runtime/stack/random.js';
import {
  firstHeader,
  fromHeaders,
  headerCount,
  type Msg,
  message,
  popHeader,
  pushHeader,
  Stacked,
} from '../../runtime/stack/types.js';
import { DecodeError } from '../../runtime/wire/errors.js';

/** The representation before `Stacked`: a new array per push, a slice per pop. */
const plainPush = (m: Msg, h: unknown): Msg => ({ headers: [...m.headers, h], payload: m.payload });

describe('Stacked messages', () => {
  it('read like the plain messages they replace, through every push and pop', () => {
    const r = seededRandom(7);
    for (let round = 0; round < 200; round++) {
      const payload = new Uint8Array([round & 0xff]);
      const start: unknown[] = Array.from({ length: Math.floor(r() * 3) }, (_, i) => [i, 'above']);
      let plain: Msg = { headers: start, payload };
      // Half start from a plain message (as tests and a few callers build them), half as decoded.
      let stacked: Msg = r() < 0.5 ? { headers: start, payload } : fromHeaders(start, payload);
      const kept: [Msg, Msg][] = [];
      for (let step = 0; step < 12; step++) {
        if (r() < 0.6 || plain.headers.length === 0) {
          const h = [Math.floor(r() * 4), step];
          plain = plainPush(plain, h);
          stacked = pushHeader(stacked, h);
        } else {
          const p = popKindHeader(plain, 't');
          const s = popKindHeader(stacked, 't');
          expect(s.h).toBe(p.h);
          expect(s.kind).toBe(p.kind);
          plain = p.rest;
          stacked = s.rest;
        }
        expect(stacked.headers).toEqual(plain.headers);
        expect(headerCount(stacked)).toBe(plain.headers.length);
        expect(firstHeader(stacked)).toBe(plain.headers[0]);
        expect(stacked.payload).toBe(payload);
        kept.push([plain, stacked]);
      }
      // What was pushed or popped later did not change a message kept on the way (nak keeps
      // what it sends, gms what it delivers).
      for (const [p, s] of kept) expect(s.headers).toEqual(p.headers);
    }
  });

  it('pops as the plain form does, and refuses a message without headers alike', () => {
    const m = fromHeaders(
      [
        [9, 'x'],
        [1, 2],
      ],
      new Uint8Array([1]),
    );
    expect(m).toBeInstanceOf(Stacked);
    const [h, rest] = popHeader(m)!;
    expect(h).toEqual([1, 2]);
    expect(rest.headers).toEqual([[9, 'x']]);
    const last = popKindHeader(rest, 't').rest;
    expect(last.headers).toEqual([]);
    expect(popHeader(last)).toBeUndefined();
    expect(() => popKindHeader(last, 't')).toThrow(DecodeError);
    expect(() => popKindHeader(message(new Uint8Array()), 't')).toThrow('t: missing header');
    expect(() => popKindHeader(pushHeader(last, 'not a tuple'), 't')).toThrow(DecodeError);
    expect(message(new Uint8Array(), [3]).headers).toEqual([[3]]);
  });

  it('builds its header list afresh on each read: a caller may not change the message through it', () => {
    const m = pushHeader(pushHeader(message(new Uint8Array()), [0]), [1]);
    const a = m.headers as unknown[];
    a.push('changed');
    expect(m.headers).toEqual([[0], [1]]);
  });
});

describe('StampLog', () => {
  it('holds what a Map by gseq held, through random stamping and delivery', () => {
    const r = seededRandom(11);
    const log = new StampLog();
    const ref = new Map<number, [number, number]>();
    let next = 0;
    let deliverNext = 0;
    for (let step = 0; step < 20_000; step++) {
      if (r() < 0.52) {
        // A stamping message: a run of stamps (more than the ring's 64, now and then).
        const count = r() < 0.02 ? 150 : 1 + Math.floor(r() * 5);
        for (let i = 0; i < count; i++) {
          const rank = Math.floor(r() * 7);
          const tseq = Math.floor(r() * 2 ** 40);
          log.push(rank, tseq);
          ref.set(next++, [rank, tseq]);
        }
      } else if (deliverNext < next) {
        log.release(deliverNext);
        ref.delete(deliverNext);
        deliverNext++;
      }
      expect(log.size).toBe(ref.size);
      for (const g of [deliverNext - 1, deliverNext, next - 1, next, deliverNext + Math.floor(r() * 10)]) {
        const want = ref.get(g);
        expect(log.has(g)).toBe(want !== undefined);
        if (want) expect([log.rankOf(g), log.tseqOf(g)]).toEqual(want);
      }
    }
  });

  it('refuses to read a stamp it does not hold', () => {
    const log = new StampLog();
    log.push(1, 5);
    expect(() => log.rankOf(1)).toThrow(RangeError);
    log.release(0);
    log.release(0); // released already: nothing
    expect(log.size).toBe(0);
    expect(() => log.tseqOf(0)).toThrow(RangeError);
  });
});
