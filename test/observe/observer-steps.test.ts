// What the Observer makes of request steps and client calls, without a group: the histograms'
// series per method (kept apart though the observer remembers its last series), and the step
// times (one clock read per turn for the steps that do not time a method: session 43).
import { describe, expect, it } from 'vitest';
import { TroupeError } from '../../runtime/errors.js';
import { type StepTaker, TAKES_STEPS } from '../../runtime/observe/events.js';
import { Observer } from '../../runtime/observe/observer.js';

function steps(o: Observer): StepTaker {
  return (o as unknown as { [TAKES_STEPS]: StepTaker })[TAKES_STEPS];
}

/** `name{labels} value` lines of a scrape, for one metric's `_count` series. */
async function counts(o: Observer, name: string): Promise<Record<string, number>> {
  const text = await o.registry.metrics();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = line.match(new RegExp(`^${name}_count\\{(.*)\\} (\\d+)$`));
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('Observer request steps', () => {
  it('counts apply durations per method, whatever order the methods come in', async () => {
    const o = new Observer();
    const step = steps(o);
    const methods = ['deposit', 'deposit', 'withdraw', 'deposit', 'balance', 'withdraw', 'withdraw'];
    for (const [i, method] of methods.entries()) {
      const id = `c:${i + 1}`;
      step('ordered', id, 1, i, 'm', undefined, undefined, undefined);
      step('applying', id, undefined, undefined, undefined, method, undefined, undefined);
      step('outcome', id, 1, undefined, undefined, undefined, 'committed', true);
    }
    expect(await counts(o, 'troupe_replica_apply_duration_seconds')).toEqual({
      'method="deposit"': 3,
      'method="withdraw"': 3,
      'method="balance"': 1,
    });
    o.close();
  });

  it("times applying and outcome with the clock, other steps with the turn's last read", async () => {
    const o = new Observer();
    const step = steps(o);
    // One turn: received, then a method that runs 5 ms, then replied.
    step('received', 'c:1', undefined, undefined, 'peer', undefined, undefined, undefined);
    step('cast', 'c:1', undefined, undefined, undefined, undefined, undefined, undefined);
    spin(2);
    step('ordered', 'c:1', 1, 0, 'm', undefined, undefined, undefined);
    step('applying', 'c:1', undefined, undefined, undefined, 'deposit', undefined, undefined);
    spin(5);
    step('outcome', 'c:1', 1, undefined, undefined, undefined, 'committed', true);
    spin(2);
    step('replied', 'c:1', undefined, undefined, 'peer', undefined, undefined, undefined);
    const t = o.trace('c:1')!;
    const at = Object.fromEntries(t.steps.map((s) => [s.step, s.at]));
    // Same turn, no read between: received, cast and ordered share one time.
    expect(at.cast).toBe(at.received);
    expect(at.ordered).toBe(at.received);
    expect(at.applying! - at.received!).toBeGreaterThanOrEqual(2);
    const outcome = t.steps.find((s) => s.step === 'outcome')!;
    expect(outcome.ms).toBeGreaterThanOrEqual(5);
    expect(at.outcome! - at.applying!).toBe(outcome.ms);
    // replied takes the outcome's read (the turn's latest), not a read of its own.
    expect(at.replied).toBe(at.outcome);
    // A later turn reads the clock again.
    await new Promise((r) => setImmediate(r));
    spin(1);
    step('received', 'c:2', undefined, undefined, 'peer', undefined, undefined, undefined);
    expect(o.trace('c:2')!.steps[0]!.at - at.replied!).toBeGreaterThanOrEqual(1);
    o.close();
  });
});

describe('Observer client calls', () => {
  it('counts call durations per method, mode and outcome, whatever order they settle in', async () => {
    const o = new Observer();
    const calls: [string, string, 'first' | 'all', unknown][] = [
      ['bank', 'deposit', 'first', undefined],
      ['bank', 'deposit', 'first', new TroupeError('TIMEOUT', 'late')],
      ['bank', 'deposit', 'first', undefined],
      ['bank', 'deposit', 'all', undefined],
      ['bank', 'withdraw', 'first', undefined],
      ['bank', 'deposit', 'first', new TroupeError('TIMEOUT', 'late')],
      ['shop', 'deposit', 'first', undefined],
    ];
    for (const [i, [service, method, mode, error]] of calls.entries()) {
      const settled = error === undefined ? Promise.resolve(1) : Promise.reject(error);
      settled.catch(() => {});
      o.event({ type: 'call', id: `c:${i + 1}`, service, method, mode, settled });
      await settled.catch(() => {});
      await new Promise((r) => setImmediate(r));
    }
    expect(await counts(o, 'troupe_client_call_duration_seconds')).toEqual({
      'method="bank.deposit",mode="first",outcome="ok"': 2,
      'method="bank.deposit",mode="first",outcome="timeout"': 2,
      'method="bank.deposit",mode="all",outcome="ok"': 1,
      'method="bank.withdraw",mode="first",outcome="ok"': 1,
      'method="shop.deposit",mode="first",outcome="ok"': 1,
    });
    expect(o.trace('c:7')!.steps.map((s) => [s.step, s.method ?? s.error])).toEqual([
      ['call', 'shop.deposit'],
      ['settled', undefined],
    ]);
    expect(o.trace('c:6')!.steps[1]).toMatchObject({ step: 'settled', error: 'TIMEOUT' });
    o.close();
  });
});
