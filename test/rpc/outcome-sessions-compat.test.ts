/**
 * Sessions carry `requested`, written to the snapshot (a 7th field, after an empty 6th) only
 * where the session's other fields would suggest the opposite, so that most snapshots keep the
 * earlier five or six fields a joiner of an earlier release reads (FINDINGS 113). A session made
 * by a late `record` (a handler call completed after its session ended) was written with 7.
 */
import { expect, it } from 'vitest';
import { OutcomeTable } from '../../runtime/rpc/outcomes.js';
import { OutcomeTable as EarlierTable } from './fixtures/outcomes-96c484e-parent.js';

const ok1 = {
  status: 'committed' as const,
  result: { ok: true as const, value: new Uint8Array([1]) },
  viewId: 1,
  at: 0,
};

it('a session a late record made (a handler call completed after its session ended) keeps the earlier form', () => {
  const t = new OutcomeTable({ maxClients: 2 });
  // h:1 is a @Handler call: applied (request), pending at the lock holder.
  t.request('h:1', 0);
  // Two other clients call meanwhile: past maxClients, h's session ends (least recently active).
  for (const c of ['a', 'b']) {
    t.request(`${c}:1`, 0);
    t.record(`${c}:1`, ok1);
  }
  expect(t.snapshot()[2].map(([c]) => c)).not.toContain('h');
  // The holder's `done` is applied: commit → record() makes a session with no request applied
  // and one outcome. Whether `requested` is true or false cannot matter for it (isQueried needs
  // no outcome, and only request() empties the outcomes, setting requested), but the snapshot
  // writes the mark: requested = false while the look says true.
  t.record('h:1', ok1);
  const state = t.snapshot();
  const h = state[2].find(([c]) => c === 'h')!;
  // A joiner of the earlier release refuses the whole state ('a client has 5 or 6 fields').
  expect(() => new EarlierTable({ maxClients: 2 }).restore(structuredClone(state))).not.toThrow();
  // Fails on 1245d13: 7 fields, [..., [], 0].
  expect(h.length).toBeLessThanOrEqual(6);
});
