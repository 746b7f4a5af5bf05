import { describe, expect, it } from 'vitest';
import { BadAmount, Bank } from '../../examples/bank/bank.js';

// The bank appends statements in place (a copy per deposit made every call cost O(history));
// a snapshot taken for state transfer or an async pre-image must still never change after.
describe('the bank example’s state', () => {
  it('a snapshot does not change when later deposits append in place', () => {
    const bank = new Bank();
    bank.deposit('a', 5);
    const snap = bank.snapshot();
    const before = JSON.stringify(snap);
    bank.deposit('a', 7);
    bank.deposit('b', 1);
    expect(JSON.stringify(snap)).toBe(before);
  });

  it('refuses amounts that are not positive and finite, and changes nothing', () => {
    const bank = new Bank();
    bank.deposit('a', 5);
    const before = JSON.stringify(bank.snapshot());
    for (const amount of [Number.NaN, Number.POSITIVE_INFINITY, -3, 0]) {
      expect(() => bank.deposit('a', amount)).toThrow(BadAmount);
      expect(() => bank.withdraw('a', amount)).toThrow(expect.objectContaining({ code: 'BAD_AMOUNT' }));
    }
    expect(JSON.stringify(bank.snapshot())).toBe(before);
  });

  it('a restored state is the receiver’s own: the giver’s arrays are not shared', () => {
    const giver = new Bank();
    giver.deposit('a', 5);
    const state = giver.snapshot();
    const taker = new Bank();
    taker.restore(state);
    taker.deposit('a', 1);
    expect(state.history[0]![1]).toHaveLength(1);
    expect(giver.snapshot().history[0]![1]).toHaveLength(1);
    expect(taker.snapshot().history[0]![1]).toHaveLength(2);
  });

  it('keeps every entry by default, and only the latest `statementEntries` when bounded', async () => {
    const keep = 100;
    const calls = keep + 50;
    const full = new Bank();
    const bounded = new Bank(keep);
    for (let i = 1; i <= calls; i++) {
      full.deposit('a', i);
      bounded.deposit('a', i);
    }
    expect((await full.statement('a')).entries).toHaveLength(calls);
    const s = await bounded.statement('a');
    expect(s.balance).toBe((calls * (calls + 1)) / 2);
    expect(s.entries).toHaveLength(keep);
    expect(s.entries[0]).toStrictEqual({ kind: 'deposit', amount: calls - keep + 1 });
    expect(s.entries.at(-1)).toStrictEqual({ kind: 'deposit', amount: calls });
    expect(bounded.snapshot().history[0]![1]).toHaveLength(keep);
  });
});
