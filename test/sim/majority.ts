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
 * view's, judged the same way (none of its members runs), is lost (FINDINGS 147). A majority set
 * with no member that installed the view (only a member cut off from it did) is not in that view:
 * the newest view its members hold is judged instead (FINDINGS 153).
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
  const loss = judge(w, newest);
  return loss === 'held' ? undefined : loss;
}

/**
 * Whether `view` keeps a majority now: a set of its running members that reach each other, more
 * than half of it ({@link majorityLoss}), holding a member that installed it (its last view). A
 * view that only members cut off from every such set installed (a coordinator that installed it
 * as it was cut off, RPC seed 99551020) is not where the others are: they never had its Install,
 * and no one who has it reaches them to send it. They go on, if at all, from the views they hold:
 * the newest of those, among the largest set, is judged instead (none: joiners only, lost).
 */
function judge(
  w: World,
  view: { members: readonly string[]; key: string },
  depth = 0,
): MajorityLoss | 'held' {
  const running = w.nodes
    .filter((n) => n.alive && n.pausedUntil <= w.now && view.members.includes(n.rec.member))
    .map((n) => n.index);
  const clique = w.links.largestClique(running);
  const lost = { at: w.now, view: view.key, largest: clique.length, of: view.members.length };
  if (clique.length <= view.members.length / 2) return lost;
  const reach = (a: number, b: number) => !w.links.blocks(a, b) && !w.links.blocks(b, a);
  // The largest set through each running member that installed the view.
  for (const i of running)
    if (lastKey(w.nodes[i]!) === view.key) {
      const around = w.links.largestClique(running.filter((j) => j !== i && reach(i, j)));
      if (around.length + 1 > view.members.length / 2) return 'held';
    }
  const held = newestView(clique.map((i) => w.nodes[i]!).filter((n) => n.rec.partitionedAt === null));
  return held && held.key !== view.key && depth < 8 ? judge(w, held, depth + 1) : lost;
}

const lastKey = (n: World['nodes'][number]): string | undefined => {
  const v = n.rec.views[n.rec.views.length - 1];
  return v && viewKey(v);
};
