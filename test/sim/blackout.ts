/**
 * What must still hold after a `blackout` (test/sim/patterns.ts `planBlackout`): every member, or
 * all but one, crashed within 4 ms and came back as new processes 0.2–3 s later.
 *
 * What the docs let it lose. The replicated state lives in the members' memory only (README,
 * "troupe serve": "once every replica has stopped … the next group starts from a new `Kv`"; a
 * membership file keeps the view, not the state). A call is safe once a majority of its view
 * holds it (docs/rpc.md, "When the whole group loses its majority"); a blackout leaves no such
 * majority, so the group is founded again (docs/protocol.md, "Re-founding") from the most advanced
 * state among its founders, and "a call that only members now gone had applied is not in it, and
 * `outcome()` answers `not-found` for it from the new group". So, expected loss (not counted):
 *
 * - a reply, or a `committed` outcome answer, that the **lost history** gave: the member that
 *   answered was then in a view that is not the new group's (before the blackout, or the spared
 *   member still in its old view), and the agreed log has no such result. After a re-founding
 *   from the spared member's state, the agreed log begins with that member's old history, but a
 *   request the old view ordered while the spared member was paused or cut off, which only the
 *   crashed members delivered, is in it nowhere: lost too (RPC seed 392002006);
 * - a `not-found` answer from the new group for a request only the lost history had run (the
 *   client, which first sent it there, reads it as `unknown`: docs/rpc.md, "When the whole group
 *   loses its majority").
 *
 * What must still hold (violations, checked as everywhere else unless said here):
 *
 * - **the group re-forms** (`blackout-reform`): within {@link reformMs} (3 s with the simulator's timings) of the later of the
 *   blackout's last restart (the last crashed node's next process) and the end of the fault phase, a view holding a member of every
 *   node is installed (measured: at most 1.5 s after the last restart in 600 group seeds);
 *   `progress` then wants probes cast later delivered (group mode) or answered (RPC);
 * - every claim **the new group** makes is true of the agreed log: a reply or `committed`
 *   outcome whose answering member was in a view of the new group (from the re-founding on) is
 *   not excused by the majority loss, even where the agreed log has nothing (`blackoutExcuses`,
 *   test/sim/rpc-scenario.ts);
 * - **no false `not-found`** (`blackout-outcomes`): after a re-founding from a founder's state,
 *   a settled `not-found` from a member of the agreed log for a request that state already held
 *   is a violation (`true-outcomes` judges only requests whose copy the agreed log ran;
 *   test/sim/rpc-checkers.ts);
 * - **no rerun** (`blackout-rerun`, test/sim/rpc-scenario.ts `blackoutReruns`): a call the lost
 *   history ran does not run again in the new group, unless its client chose `reissue(id, {
 *   rerun: true })` before (the client does not send such a request again by itself; before
 *   FINDINGS 222's fix it did, after the new group's `not-found`); and an `unknown` only in a run
 *   that lost its majority (`unknown-after-loss`);
 * - no call runs twice in one history (`no-double-apply`), the replicas that re-form agree
 *   (`sequential-state`, `same-state`), every call ends in a reply or a typed error
 *   (`calls-end`), nothing wedges (`progress`, `liveness`): unchanged.
 */
import { DEFAULTS as GMS_DEFAULTS } from '../../runtime/layers/gms/options.js';
import type { Checker } from './checkers.js';
import { viewKey, type World } from './world.js';

/**
 * How long after its last restart (or the fault phase's end, if later) a blackout's group must
 * hold every node again: twice what detection and founding take at most, `suspectMs +
 * partitionMs + bootstrapMs` (the spared member hears its view silent, stops, and founds anew
 * with the others). The simulator's timings give 3 s, twice the slowest re-forming measured
 * (1.5 s in 600 group seeds); the library's (`--timings library`, founding in 300 ms) 8.6 s, where the spared member
 * alone takes 4 s to stop (51 of 100 group seeds 392003000..099 needed more than 3 s).
 */
export function reformMs(w: World): number {
  const gms = w.cfg.stack.find((l) => l.name === 'gms')?.options as Partial<typeof GMS_DEFAULTS> | undefined;
  const t = { ...GMS_DEFAULTS, ...gms };
  return 2 * (t.suspectMs + t.partitionMs + t.bootstrapMs);
}

/** `blackout-reform`: see the module comment. No blackout, nothing to check. */
export const blackoutReform: Checker = {
  name: 'blackout-reform',
  check: (w) => {
    const out: string[] = [];
    const n = w.cfg.members;
    for (const b of w.blackouts) {
      // When each crashed node's next process started: the blackout's restart, or an earlier one
      // (another fault's crash of the node, due while the blackout had it down) that made it moot.
      const back = b.crashed.map((node) =>
        Math.min(
          ...w.incarnations.filter((i) => i.node === node && i.startedAt > b.at).map((i) => i.startedAt),
        ),
      );
      const last = Math.max(b.at, ...back);
      // A member stopped (a `zombie`'s 0.8-2.5 s, a `pause`) after the blackout struck is one the
      // group cannot hold before it runs again, and then it must notice its view is gone and join
      // as a restarted one must: its waking counts as a restart (RPC seeds 410370251, 410370273 at
      // `--latency 100`: the spared member, or a restarted one, stopped until 2.2 s after the
      // last restart; whole 2.7 and 1.5 s after it woke).
      const woke = w.pauses.filter((p) => p.until > b.at).map((p) => p.until);
      const from = Math.max(last, w.cfg.faultMs, ...woke);
      const allowed = reformMs(w);
      const deadline = Math.min(from + allowed, w.cfg.endMs);
      let whole = Number.POSITIVE_INFINITY;
      for (const inc of w.incarnations)
        for (const v of inc.views) if (v.at >= last && v.members.length === n && v.at < whole) whole = v.at;
      if (whole > deadline)
        out.push(
          `blackout at ${b.at.toFixed(0)} ms (${b.crashed.length} of ${n} crashed, last back ${Number.isFinite(last) ? `at ${last.toFixed(0)} ms` : 'never'}): ` +
            (whole === Number.POSITIVE_INFINITY
              ? 'no view of every node was ever installed'
              : `no view of every node until ${whole.toFixed(0)} ms`) +
            `, ${allowed} ms allowed from ${Number.isFinite(from) ? `${from.toFixed(0)} ms` : 'then'}${from > Math.max(last, w.cfg.faultMs) ? ' (a member stopped until then)' : ''}`,
        );
    }
    return out;
  },
};

/** The view `member` had installed last at time `at` (its key), if any. */
export function viewAt(w: World, member: string, at: number): string | undefined {
  const inc = w.incarnations.find((i) => i.member === member);
  const views = inc?.views.filter((v) => v.at <= at) ?? [];
  const v = views[views.length - 1];
  return v && viewKey(v);
}
