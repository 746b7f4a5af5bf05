// Preloaded into a replica process by `real-chaos --skew MS` (`node --import`, before tsx: plain
// JavaScript). Shifts this process's wall clock by TROUPE_CHAOS_SKEW_MS: `Date.now` (what packet
// authentication's freshness and keyless cookies read) and `performance.timeOrigin` (the origin
// of runtime/clock.ts's steadyNow, read once when that module loads, after this one). Each
// SIGUSR2 then steps `Date.now` by TROUPE_CHAOS_STEP_MS, forward and back in turn, as an NTP
// correction steps a wall clock; steadyNow does not move, by design.
const offset = Number(process.env.TROUPE_CHAOS_SKEW_MS ?? 0);
const step = Number(process.env.TROUPE_CHAOS_STEP_MS ?? 0);
if (!Number.isFinite(offset) || !Number.isFinite(step)) throw new Error('skew-clock: bad environment');
const realNow = Date.now.bind(Date);
let shift = offset;
let forward = true;
Date.now = () => realNow() + shift;
Object.defineProperty(performance, 'timeOrigin', { value: performance.timeOrigin + offset });
process.on('SIGUSR2', () => {
  shift += forward ? step : -step;
  forward = !forward;
});
