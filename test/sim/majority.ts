/**
 * The majority rule, watched from outside: the RPC mode's partitions may leave no side with a
 * majority of the primary view, and then the whole group stops by design (a minority must not
 * go on). Such a run's losses are "expected unavailability", reported apart from violations.
 *
 * The rule, as checked: at a sampled instant during the faults, take the newest view installed
 * by a member still in the group; find the largest set of its running members (alive, not
 * paused) in which every two reach each other directly, both ways (test/sim/network.ts); if it
 * holds no more than half of that view's members, the group has lost its majority there. When no
 * running member holds a view but a dead one does, every member of the group is down: that
 * view's, judged the same way (none of its members runs), is lost (FINDINGS 147).
 *
 * Directly: gms's failure detector counts only what a member hears from each other member
 * itself, so two members cut apart both ways suspect each other and cannot stay in one view,
 * however many others reach both. The rule first grouped members reached through others (RPC
 * seed 5004312: through a joiner, fixed by counting view members only; RPC seed 5003599: through
 * a view member, n0 and n1 cut apart both ways, both reaching n2, the fourth member dead: the
 * group dissolved by design and its re-founding without the answered calls was reported as
 * `true-replies` violations; test/sim/FINDINGS.md item 30).
 */
import { viewKey, type World } from './world.js';

export interface MajorityLoss {
  at: number;
  view: string;
  /** Members of the view in the largest connected set of running members. */
  largest: number;
  of: number;
}

/** Samples the rule every `everyMs` until `untilMs`; the first loss of each view is recorded. */
export function watchMajority(w: World, untilMs: number, everyMs = 20): MajorityLoss[] {
  const losses: MajorityLoss[] = [];
  const seen = new Set<string>();
  for (let t = everyMs; t <= untilMs; t += everyMs)
    w.at(t, () => {
      const loss = majorityLoss(w);
      if (loss && !seen.has(loss.view)) {
        seen.add(loss.view);
        losses.push(loss);
        w.log(`MAJORITY LOST: ${loss.largest} of ${loss.of} members of ${loss.view} reach each other`);
      }
    });
  return losses;
}

/** The newest view any of `nodes` installed last, if any. */
function newestView(
  nodes: readonly World['nodes'][number][],
): { at: number; members: readonly string[]; key: string } | undefined {
  let newest: { at: number; members: readonly string[]; key: string } | undefined;
  for (const n of nodes) {
    const v = n.rec.views[n.rec.views.length - 1];
    if (v && (!newest || v.at > newest.at)) newest = { at: v.at, members: v.members, key: viewKey(v) };
  }
  return newest;
}

/** Whether the group has no majority now (see the module comment), and of which view. */
export function majorityLoss(w: World): MajorityLoss | undefined {
  // No running member holds a view: if a dead one does, every member of the group is down (a
  // group of one whose member crashed, RPC seed 98010078: churn crashes the sequencer without
  // asking safeToStop). Its restart is a new incarnation that founds the group again from
  // nothing: the group is lost, as when no majority remains. (Members that stopped themselves
  // (partitioned) are left out as before; before any view, nothing is lost.)
  const newest =
    newestView(w.nodes.filter((n) => n.alive && n.rec.partitionedAt === null)) ??
    newestView(w.nodes.filter((n) => !n.alive));
  if (!newest) return undefined;
  const running = w.nodes
    .filter((n) => n.alive && n.pausedUntil <= w.now && newest.members.includes(n.rec.member))
    .map((n) => n.index);
  const largest = w.links.largestClique(running).length;
  if (largest > newest.members.length / 2) return undefined;
  return { at: w.now, view: newest.key, largest, of: newest.members.length };
}
