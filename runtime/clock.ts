/**
 * Milliseconds since the epoch as of this process's start, advanced since by the monotonic
 * clock: within a few ms of `Date.now()` at start, and never stepped afterwards.
 *
 * Clients and replicas measure durations with their clock (retransmission, a contact's silence,
 * recasts), so a wall clock that an NTP correction or a resumed VM steps by an hour would make
 * every contact look dead at once (forward) or stop retransmissions and failure detection for
 * that hour (back). Order timestamps need only be near real time, which this is.
 *
 * @example
 * const t0 = steadyNow();
 * // ... later, unaffected by wall clock steps:
 * const elapsedMs = steadyNow() - t0;
 */
export function steadyNow(): number {
  return ORIGIN + performance.now();
}

// Read once: `performance.timeOrigin` is a getter into the runtime (a quarter of this function's
// samples in a profile), and it does not change during a process's life.
const ORIGIN = performance.timeOrigin;
