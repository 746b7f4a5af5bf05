// parseRequestId is a hand-written scanner (it ran several times per call); the grammar it must
// keep is this regular expression, the one it replaced. Checked on edge cases and on random
// strings drawn from the characters that matter, so a drift in either direction fails.
import { describe, expect, it } from 'vitest';
import { parseRequestId } from '../../runtime/rpc/result.js';
import { ownCounter } from '../../runtime/rpc/session.js';
import { seededRandom } from '../../runtime/stack/random.js';

const GRAMMAR = /^([A-Za-z0-9_-]{1,64}):([1-9][0-9]{0,14})$/;

/** Up to `max` characters drawn from `chars` with `next`. */
const drawer = (next: () => number) => (chars: string, max: number) => {
  let out = '';
  for (let n = Math.floor(next() * (max + 1)); n > 0; n--) out += chars[Math.floor(next() * chars.length)];
  return out;
};

function expected(id: string) {
  const m = GRAMMAR.exec(id);
  return m ? { clientId: m[1], counter: Number(m[2]) } : undefined;
}

describe('parseRequestId', () => {
  it('accepts and refuses exactly what the grammar does at the edges', () => {
    const cases = [
      'c:1',
      'abc-_XYZ09:123',
      `${'a'.repeat(64)}:1`,
      `${'a'.repeat(65)}:1`,
      'c:999999999999999',
      'c:1000000000000000',
      'c:0',
      'c:01',
      ':1',
      'c:',
      'c',
      '',
      'c:1:2',
      'c::1',
      'c:1a',
      'c d:1',
      'c.d:1',
      'é:1',
      'c:-1',
      'c:+1',
      'c:1 ',
      ' c:1',
      'c:１',
    ];
    for (const id of cases) expect(parseRequestId(id), id).toEqual(expected(id));
  });

  it('agrees with the grammar on 20,000 random ids', () => {
    const next = seededRandom(20261203);
    const draw = drawer(next);
    const alphabet = 'aZ09_-:: .é/0123456789';
    let valid = 0;
    for (let i = 0; i < 20_000; i++) {
      // Half near the grammar (client id, colon, digits, with lengths around the limits), half noise.
      const id = next() < 0.5 ? `${draw('aZz09_-', 66)}:${draw('0123456789', 16)}` : draw(alphabet, 24);
      expect(parseRequestId(id), JSON.stringify(id)).toEqual(expected(id));
      if (expected(id)) valid++;
    }
    // Both sides of the grammar were drawn, not only refusals.
    expect(valid).toBeGreaterThan(500);
  });

  it('answers each id afresh when ids alternate (its one-entry memory is keyed by the id)', () => {
    for (let i = 1; i <= 50; i++) {
      expect(parseRequestId(`a:${i}`)).toEqual({ clientId: 'a', counter: i });
      expect(parseRequestId('bad id')).toBeUndefined();
      expect(parseRequestId(`b:${i + 1}`)).toEqual({ clientId: 'b', counter: i + 1 });
      expect(parseRequestId(`b:${i + 1}`)).toEqual({ clientId: 'b', counter: i + 1 });
    }
  });
});

describe('ownCounter', () => {
  it("reads a session's own ids as parsing them and comparing the client id would", () => {
    const next = seededRandom(20261207);
    const draw = drawer(next);
    const owners = ['c', 'aZ0', 'a-_9'];
    let owned = 0;
    for (let i = 0; i < 20_000; i++) {
      const owner = owners[i % owners.length]!;
      // Mostly this owner's ids or near misses (another owner, a longer or shorter client id,
      // odd counters), some noise.
      const r = next();
      const id =
        r < 0.6
          ? `${owners[Math.floor(next() * owners.length)]!}:${draw('0123456789', 17)}`
          : r < 0.8
            ? `${owner}${draw('aZ0:', 2)}:${draw('0123456789a', 4)}`
            : draw('aZc09_-: ', 12);
      const p = parseRequestId(id);
      const want = p && p.clientId === owner ? p.counter : undefined;
      expect(ownCounter(`${owner}:`, id), `${owner} ${JSON.stringify(id)}`).toBe(want);
      if (want !== undefined) owned++;
    }
    expect(owned).toBeGreaterThan(2_000);
  });
});
