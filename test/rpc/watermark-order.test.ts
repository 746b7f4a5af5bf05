// The client's watermark and the outcome table's pruning take their lowest counter from Map order
// while counters arrive in increasing order, and walk every entry once they do not. Both are
// checked here against the plain definitions on random histories that mix in-order counters with
// old ones held or recorded again, so a shortcut that is wrong in either regime fails.
import { describe, expect, it } from 'vitest';
import { MAX_KEPT, OutcomeTable } from '../../runtime/rpc/outcomes.js';
import { ClientSession, KEEP_LAG } from '../../runtime/rpc/session.js';
import { seededRandom } from '../../runtime/stack/random.js';

/**
 * The watermark by its definition: below the lowest unsettled counter (else the last issued), but
 * for up to MAX_KEPT of the oldest more than KEEP_LAG behind the newest held, which it passes as `keep`
 * up to the next unsettled counter.
 */
function expected(
  holds: Map<number, number>,
  issued: number,
  newest: number,
): { settled: number; keep?: number[] } {
  const open = [...holds.keys()].sort((a, b) => a - b);
  const plain = { settled: Math.min(issued + 1, ...open) - 1 };
  // Never all of them: the watermark stops below a held counter that is not kept.
  const keep = open.filter((n) => n < newest - KEEP_LAG).slice(0, Math.min(MAX_KEPT, open.length - 1));
  return keep.length > 0 ? { settled: open[keep.length]! - 1, keep } : plain;
}

describe('ClientSession.watermark', () => {
  it('is the lowest unsettled counter less one but for the oldest far behind, on 200 random histories', () => {
    let kept = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      const session = new ClientSession('c', 0);
      const holds = new Map<number, number>();
      let issued = 0;
      let newest = 0;
      let keeps = 0;
      for (let step = 0; step < 300; step++) {
        const r = random();
        if (r < 0.03) {
          // A burst of calls that all settled: what is held now falls far behind the newest.
          for (let k = random() * 3 * KEEP_LAG; k > 0; k--) session.next();
          const id = session.next();
          issued = Number(id.split(':')[1]);
          session.hold(id);
          session.release(id);
          newest = issued;
        } else if (r < 0.45) {
          const id = session.next();
          issued = Number(id.split(':')[1]);
          session.hold(id);
          newest = issued;
          holds.set(issued, (holds.get(issued) ?? 0) + 1);
        } else if (r < 0.55 && issued > 0) {
          // An older id held again (a remembered call reissued): Map order is no longer sorted.
          const n = 1 + Math.floor(random() * issued);
          session.hold(`c:${n}`);
          holds.set(n, (holds.get(n) ?? 0) + 1);
        } else if (holds.size > 0) {
          const keys = [...holds.keys()];
          const n = keys[Math.floor(random() * keys.length)]!;
          session.release(`c:${n}`);
          const left = holds.get(n)! - 1;
          if (left > 0) holds.set(n, left);
          else holds.delete(n);
        }
        const want = expected(holds, issued, newest);
        if (want.keep) keeps++;
        expect(session.watermark(`c:${Math.max(1, issued)}`), `seed ${seed} step ${step}`).toStrictEqual(
          want,
        );
      }
      kept += keeps;
    }
    // The histories reach the rare case, or this test checks only the common one.
    expect(kept).toBeGreaterThan(1000);
  });
});

describe('OutcomeTable pruning', () => {
  it('keeps exactly the outcomes above the floor, on 200 random histories', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(1000 + seed);
      const perClient = 1 + Math.floor(random() * 40);
      const table = new OutcomeTable({ perClient });
      const model = new Map<number, number>();
      let floor = 0;
      let next = 1;
      // Requests applied whose outcome comes later (async methods, handler calls): recorded out of
      // counter order, so the table's Map stops being sorted.
      const deferred: number[] = [];
      for (let step = 0; step < 200; step++) {
        let n: number;
        if (deferred.length > 0 && random() < 0.25) {
          n = deferred.splice(Math.floor(random() * deferred.length), 1)[0]!;
        } else {
          n = next++;
          const settled = random() < 0.5 ? Math.floor(random() * next) : undefined;
          table.request(`c:${n}`, settled);
          if (settled !== undefined && settled > floor) {
            floor = settled;
            for (const k of [...model.keys()]) if (k <= settled) model.delete(k);
          }
          if (random() < 0.3) {
            deferred.push(n);
            continue;
          }
        }
        if (n > floor) {
          model.set(n, step);
          while (model.size > perClient) {
            const lowest = Math.min(...model.keys());
            model.delete(lowest);
            floor = Math.max(floor, lowest);
          }
        }
        table.record(`c:${n}`, {
          status: 'committed',
          viewId: 1,
          at: step,
          result: { ok: true, value: new Uint8Array([step & 0x7f]) },
        });
        for (let k = 1; k < next; k++) {
          const got = table.get(`c:${k}`)?.status;
          const want = model.has(k) ? 'committed' : k <= floor ? 'expired' : undefined;
          // One expect per mismatch only: an expect per counter made this test take a minute.
          if (got !== want) expect(got, `seed ${seed} step ${step} counter ${k}`).toBe(want);
        }
      }
    }
  });
});
