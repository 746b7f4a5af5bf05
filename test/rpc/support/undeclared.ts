import { Ledger, sleep } from './cluster.js';

/**
 * A ledger whose `slowAppend` is `@Ordered() @Logged() async slowAppend(...)`: an `async` method
 * (it changes the state before its `await`) behind a decorator's plain wrapper, so not an
 * `AsyncFunction` (FINDINGS 113). `onDone` is told each time a run ends.
 */
export function wrappedLedger(onDone?: () => void): Ledger {
  const l = new Ledger();
  const impl = async function (this: Ledger, entry: string, ms: number): Promise<number> {
    this.entries.push(entry);
    await sleep(ms);
    onDone?.();
    return this.entries.length;
  };
  (l as unknown as { slowAppend: unknown }).slowAppend = function wrapper(
    this: Ledger,
    ...a: [string, number]
  ) {
    return impl.apply(this, a);
  };
  return l;
}
