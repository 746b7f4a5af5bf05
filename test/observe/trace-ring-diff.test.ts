// The trace ring that indexes only the requests a client sent here (others found by guess or a
// short scan) against the ring it replaced, which kept every request in a Map: on random histories
// whose steps reach requests among the newest slots, every lookup, size and trace is identical.
// Then what only the new ring does: a request whose slot both the guess and the scan miss takes a
// second slot, and its trace merges the two.
import { describe, expect, it } from 'vitest';
import { STEP, type StepKind, TraceRing } from '../../runtime/observe/traces.js';
import { seededRandom } from '../../runtime/stack/random.js';
import { TraceRing as OldRing } from './fixtures/trace-ring-2a5f1e4.js';

/** Steps that follow a request's first one at a member (looked for, never start a trace here). */
const FOLLOWING: StepKind[] = [STEP.cast, STEP.applying, STEP.outcome, STEP.replied, STEP.settled];

/**
 * Runs one random history on `ring` and the old ring; returns the first difference, or undefined.
 * A request a client sent here starts indexed (`received`); one ordered here from elsewhere starts
 * unindexed (`ordered`, as the observer does for a member that is not the contact).
 */
function differs(seed: number, ring: TraceRing, ids: IdShape = 'counters'): string | undefined {
  const r = seededRandom(seed);
  const int = (n: number) => Math.floor(r() * n);
  const capacity = ring.capacity;
  const old = new OldRing(capacity);
  const made: { id: string; indexed: boolean }[] = [];
  const counted = [0, 0, 0];
  let at = 0;
  // Fresh string objects for the same id, as ids decoded from the wire are.
  const copy = (id: string) => `${id.slice(0, 1)}${id.slice(1)}`;
  for (let op = 0; op < 1500; op++) {
    const roll = int(10);
    let id: string;
    let kind: StepKind;
    let create = true;
    let index = true;
    if (roll < 3 || made.length === 0) {
      index = r() < 0.5;
      id = newId(ids, int(3), made.length + 1, counted, int);
      made.push({ id, indexed: index });
      kind = index ? STEP.received : STEP.ordered;
    } else if (roll < 9) {
      // A step of a recent request: within the newest slots, where the new ring's scan reaches.
      const reach = Math.min(made.length, capacity, 24);
      const m = made[made.length - 1 - int(reach)]!;
      id = copy(m.id);
      kind = m.indexed && r() < 0.3 ? ([STEP.received, STEP.ordered] as const)[int(2)]! : FOLLOWING[int(5)]!;
      create = r() < 0.5;
      index = m.indexed;
    } else {
      id = `zz:${op}`;
      kind = FOLLOWING[int(5)]!;
      create = false;
    }
    at++;
    const a = ring.slot(id, 'm1', create, kind, index);
    const b = old.slot(id, 'm1', create);
    if (a < 0 !== b < 0) return `op ${op}: slot ${a} vs old ${b} for ${id}`;
    ring.record(a, kind, at, at, at, `s${at}`, 0);
    old.record(b, kind, at, at, at, `s${at}`, 0);
    if (ring.size !== old.size) return `op ${op}: size ${ring.size} vs old ${old.size}`;
    // What the observer's metrics read of a slot (a reused slot shows nothing of its last request).
    for (let k = 0 as StepKind; k < 8; k++) {
      const t = [ring.stepAt(a, k), old.stepAt(b, k), ring.stepText(a, k), old.stepText(b, k)];
      if (!Object.is(t[0], t[1]) || t[2] !== t[3]) return `op ${op}: step ${k} of ${id}: ${t.join(' / ')}`;
    }
    if (int(20) === 0) {
      ring.markSlow(a);
      old.markSlow(b);
    }
  }
  for (const { id } of made) {
    const x = JSON.stringify(ring.get(id));
    const y = JSON.stringify(old.get(id));
    if (x !== y) return `trace of ${id}: ${x} vs old ${y}`;
  }
  const slow = JSON.stringify(ring.slow());
  if (slow !== JSON.stringify(old.slow())) return 'slow lists differ';
  return undefined;
}

/**
 * How new ids look: `counters`, each id its own counter; `shared`, three clients counting alike
 * (their live ids meet on the index's counter cells, so some go to its Map of strings); `mixed`,
 * some ids ending in no digit at all (the Map only); `zeros`, ids that differ only in leading
 * zeros (`c0:07`, `c0:7`), ids of digits only, and counters of more than 15 digits (the ring
 * keeps an id as numbers: each must come back as it was given).
 */
type IdShape = 'counters' | 'shared' | 'mixed' | 'zeros';

function newId(
  shape: IdShape,
  client: number,
  n: number,
  counted: number[],
  int: (n: number) => number,
): string {
  if (shape === 'counters') return `c${client}:${n}`;
  if (shape === 'shared') return `c${client}:${++counted[client]!}`;
  if (shape === 'zeros') {
    // Unique ids (n is), but `c0:7`, `c0:07` and `c0:007` all occur: one counter, three ids.
    const roll = int(6);
    if (roll === 0) return `${n}`;
    if (roll === 1) return `c${client}:${'1'.repeat(14)}${n}`;
    return `c${client}:${'0'.repeat(n % 3)}${Math.floor(n / 3)}`;
  }
  return int(4) === 0 ? `c${client}:${n}x` : `c${client}:${n}`;
}

/** The slot with its guess and scan taken away: steps of unindexed requests miss their slot. */
class BlindRing extends TraceRing {
  override slot(requestId: string, member: string, create = true, _kind?: StepKind, index = true): number {
    return super.slot(requestId, member, create, undefined, index);
  }
}

describe('TraceRing against the ring that indexed every request', () => {
  it('answers every lookup, size, trace and slow list alike on 400 random histories', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const capacity = [4, 8, 32, 100][seed % 4]!;
      expect(differs(seed, new TraceRing(capacity)), `seed ${seed}`).toBeUndefined();
    }
  });

  it('does so with clients whose counters meet, ids that end in no digit, and leading zeros', () => {
    for (const shape of ['shared', 'mixed', 'zeros'] as const)
      for (let seed = 1; seed <= 200; seed++) {
        const capacity = [4, 8, 32, 100][seed % 4]!;
        expect(differs(seed, new TraceRing(capacity), shape), `${shape} seed ${seed}`).toBeUndefined();
      }
  });

  it('does so when it keeps the id strings of only its two newest slots (the rest as numbers)', () => {
    for (const shape of ['counters', 'shared', 'mixed', 'zeros'] as const)
      for (let seed = 1; seed <= 150; seed++) {
        const capacity = [4, 8, 32, 100][seed % 4]!;
        expect(differs(seed, new TraceRing(capacity, 20, 2), shape), `${shape} seed ${seed}`).toBeUndefined();
      }
  });

  it('tells a ring that cannot find unindexed requests from the old one (the mutant fails)', () => {
    const failing = Array.from({ length: 40 }, (_, i) => i + 1).filter(
      (seed) => differs(seed, new BlindRing([4, 8, 32, 100][seed % 4]!)) !== undefined,
    );
    expect(failing.length).toBeGreaterThan(30);
  });

  it('answers ids whose client prefixes no longer fit its table of texts', () => {
    // 20,000 clients of one request each: past the table's 16,384 texts, ids are kept as strings.
    const ring = new TraceRing(64);
    for (let i = 0; i < 20_000; i++) {
      const id = `client-${i}:1`;
      const slot = ring.slot(id, 'm1', true, STEP.received);
      ring.record(slot, STEP.received, i, Number.NaN, Number.NaN, `peer-${i % 3}`);
      ring.record(ring.slot(`${id}`, 'm1', false, STEP.replied), STEP.replied, i + 0.5);
    }
    expect(ring.size).toBe(64);
    for (const i of [19_936, 19_999])
      expect(ring.get(`client-${i}:1`)).toEqual({
        requestId: `client-${i}:1`,
        member: 'm1',
        steps: [
          { step: 'received', at: i, peer: `peer-${i % 3}` },
          { step: 'replied', at: i + 0.5 },
        ],
      });
    expect(ring.get('client-19935:1')).toBeUndefined();
    expect(ring.get('client-100:1')).toBeUndefined();
  });

  it('keeps an id whose client prefix is not valid UTF-16 as it was given', () => {
    // A lone surrogate: the ring's copy of a prefix must keep every code unit.
    const ring = new TraceRing(8);
    const id = 'c\ud800:5';
    ring.record(ring.slot(id, 'm1', true, STEP.received), STEP.received, 1);
    ring.record(ring.slot(`c\ud800:${5}`, 'm1', true, STEP.replied), STEP.replied, 2);
    expect(ring.size).toBe(1);
    expect(ring.get(id)?.requestId).toBe(id);
    expect(ring.get(id)?.steps.map((s) => s.step)).toEqual(['received', 'replied']);
  });

  it('merges the two slots of a request its guess and scan missed, in time order', () => {
    const ring = new TraceRing(100);
    ring.record(ring.slot('x:1', 'm1', true, STEP.ordered, false), STEP.ordered, 1, 1, 5);
    // 40 more requests ordered here, one applied, then x:1's apply: outside the 32 newest slots,
    // and the applying cursor points elsewhere.
    for (let i = 2; i <= 41; i++)
      ring.record(ring.slot(`x:${i}`, 'm1', true, STEP.ordered, false), STEP.ordered, i);
    ring.record(ring.slot('x:40', 'm1', true, STEP.applying, false), STEP.applying, 50);
    ring.record(ring.slot('x:1', 'm1', true, STEP.applying, false), STEP.applying, 60);
    ring.record(ring.slot('x:1', 'm1', true, STEP.outcome, false), STEP.outcome, 61, 1, 1);
    expect(ring.size).toBe(42);
    const t = ring.get('x:1')!;
    expect(t.steps.map((s) => [s.step, s.at])).toEqual([
      ['ordered', 1],
      ['applying', 60],
      ['outcome', 61],
    ]);
    expect(t.steps[0]).toMatchObject({ viewId: 1, gseq: 5 });
  });
});
