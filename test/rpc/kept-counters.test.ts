// A client's session and the group's outcome table together, on random histories where a few calls
// stay unsettled for thousands of later calls (a fail-over nobody asked about, a slow method) and
// the order applies a client's requests a little out of the order it sent them. FINDINGS 91: the
// watermark alone stopped below the oldest unsettled call, so the table held every later outcome
// until its `perClient` cap dropped that very call, which then answered `expired`.
import { describe, expect, it } from 'vitest';
import { MAX_KEPT, OutcomeTable } from '../../runtime/rpc/outcomes.js';
import { ClientSession, KEEP_LAG } from '../../runtime/rpc/session.js';
import { seededRandom } from '../../runtime/stack/random.js';

const counter = (id: string): number => Number(id.split(':')[1]);

describe('client session and outcome table (FINDINGS 91)', () => {
  it('an unsettled call keeps its outcome however many calls follow; an answer once given stays; the table stays bounded', () => {
    let longHeld = 0;
    let keptSent = 0;
    let snapshotsWithKept = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const random = seededRandom(7000 + seed);
      // Odd seeds: the caller picks its ids, numbered from 1, far below the session's own counter
      // (which starts at the clock × 100), as the RPC simulator's clients do.
      const chooses = seed % 2 === 1;
      const session = new ClientSession('c', chooses ? 1_000_000 : 0);
      let chosen = 0;
      // A cap above the watermark's own bound: only the watermark and `keep` bound this table.
      const table = new OutcomeTable({ perClient: 2 * KEEP_LAG });
      /** Counters the client holds unsettled → the step it settles them. */
      const due = new Map<number, number>();
      const sent: { id: string; settled: number; keep?: number[] }[] = [];
      const recorded = new Set<number>();
      const applied = new Set<number>();
      /** What the table answered for a counter, once it answered anything. */
      const answered = new Map<number, 'committed' | 'expired'>();
      /** Old counters a caller chose again (a request id reused): settled once, held again. */
      const reused = new Set<number>();
      let issued = 0;
      for (let step = 0; step < 12_000; step++) {
        let id = chooses ? `c:${++chosen}` : session.next();
        issued = counter(id);
        const long = random() < 0.004;
        if (long) longHeld++;
        if (random() < 0.01 && issued > 100) {
          // A caller passes an id of its own it settled long ago: the group must not run it again.
          const n = 1 + Math.floor(random() * (issued - 100));
          if (!due.has(n)) {
            reused.add(n);
            id = `c:${n}`;
          }
        }
        session.hold(id);
        due.set(
          counter(id),
          step + (long ? 3_000 + Math.floor(random() * 9_000) : 1 + Math.floor(random() * 20)),
        );
        const w = session.watermark(id)!;
        if (w.keep) keptSent++;
        sent.push({ id, ...w });
        // The order applies one of the first few requests sent: not always in the client's order.
        if (sent.length > 3 || random() < 0.5) {
          const r = sent.splice(Math.floor(random() * Math.min(3, sent.length)), 1)[0]!;
          table.request(r.id, r.settled, r.keep);
          applied.add(counter(r.id));
          // A call never settled before must run, not answer `expired`.
          if (!reused.has(counter(r.id)) && table.get(r.id)?.status === 'expired')
            expect.fail(`seed ${seed} step ${step}: fresh ${r.id} answered expired`);
          if (table.get(r.id) === undefined) {
            table.record(r.id, {
              status: 'committed',
              viewId: 1,
              at: step,
              result: { ok: true, value: new Uint8Array([1]) },
            });
            recorded.add(counter(r.id));
          }
        }
        // A client settles a call once it has its answer: not before its request was applied.
        for (const [n, at] of due)
          if (at <= step && applied.has(n)) {
            session.release(`c:${n}`);
            due.delete(n);
          }
        // An unsettled call whose request ran answers its outcome, never `expired`.
        for (const n of due.keys())
          if (recorded.has(n) && !reused.has(n)) {
            const got = table.get(`c:${n}`)?.status;
            if (got !== 'committed')
              expect(got, `seed ${seed} step ${step}: unsettled c:${n}`).toBe('committed');
          }
        // An answer, once given, is never taken back: a request that answered `expired` or its
        // outcome must never look unknown again (its copies would then run).
        for (let k = 0; k < 8; k++) {
          const n = 1 + Math.floor(random() * issued);
          const got = table.get(`c:${n}`)?.status;
          const before = answered.get(n);
          if (before !== undefined && got === undefined)
            expect(got, `seed ${seed} step ${step}: c:${n} answered ${before} before`).toBe(before);
          if (before === 'expired' && got !== 'expired')
            expect(got, `seed ${seed} step ${step}: c:${n} expired before`).toBe('expired');
          if (got === 'committed' || got === 'expired') answered.set(n, got);
        }
        // Bounded by the lag, the calls in flight and the kept few, not by the cap.
        if (table.size > KEEP_LAG + MAX_KEPT + 64)
          expect(table.size, `seed ${seed} step ${step}`).toBeLessThanOrEqual(KEEP_LAG + MAX_KEPT + 64);
      }
      // State transfer carries the kept counters: a joiner answers as the table it copied.
      const copy = new OutcomeTable({ perClient: 2 * KEEP_LAG });
      copy.restore(structuredClone(table.snapshot()));
      expect(copy.snapshot()).toStrictEqual(table.snapshot());
      const differ = [];
      for (let n = 1; n <= issued; n++)
        if (copy.get(`c:${n}`)?.status !== table.get(`c:${n}`)?.status) differ.push(n);
      expect(differ).toStrictEqual([]);
      if (table.snapshot()[2][0]!.length === 6) snapshotsWithKept++;
    }
    // The histories reach the case this is about.
    expect(longHeld).toBeGreaterThan(50);
    expect(keptSent).toBeGreaterThan(1_000);
    expect(snapshotsWithKept).toBeGreaterThan(0);
  });
});
