// A child process's CPU time and memory, from Linux's /proc, for the entries' notes.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time `pid` has used so far, in ms: the scheduler's exact run time of each of its threads
 * (`/proc/<pid>/task/<tid>/schedstat`). Not `utime` + `stime` of `/proc/<pid>/stat`, which are
 * sampled at the timer tick: a process that wakes for a datagram and sleeps again within a tick
 * is charged a whole tick or nothing, which over-read a lone call's cost several-fold.
 * `undefined` where there is no such file (not Linux, or the process is gone).
 *
 * @example
 * ```ts
 * const before = cpuMs(child.pid);
 * // ... the measured window ...
 * const perCallUs = ((cpuMs(child.pid)! - before!) * 1000) / calls;
 * ```
 */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return undefined;
  }
}

/** Resident set size of `pid` in MB (`/proc/<pid>/status`), or `undefined`. */
export function rssMB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
