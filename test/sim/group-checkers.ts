import type { MemberId } from '../../runtime/stack/member.js';
import { blackoutReform } from './blackout.js';
import { type Checker, noDuplicates, noErrors, noInvented } from './checkers.js';
import { type Incarnation, type SimDelivery, viewKey, type World } from './world.js';

/** Alive at the end: neither crashed nor stopped by a partition. */
const survivor = (i: Incarnation) => i.crashedAt === null && i.partitionedAt === null;

/** Deliveries of an incarnation grouped by the view they were delivered in (view key → list). */
function byView(inc: Incarnation): Map<string, SimDelivery[]> {
  const keys = new Map<number, string>();
  for (const v of inc.views) keys.set(v.id, viewKey(v));
  const out = new Map<string, SimDelivery[]>();
  for (const d of inc.delivered) {
    if (d.viewId === undefined) continue;
    const k = keys.get(d.viewId) ?? `${d.viewId}?`;
    const list = out.get(k) ?? [];
    list.push(d);
    out.set(k, list);
  }
  return out;
}

/** The view an incarnation installed right after `key`, if any. */
function successor(inc: Incarnation, key: string): string | undefined {
  const i = inc.views.findIndex((v) => viewKey(v) === key);
  const next = i >= 0 ? inc.views[i + 1] : undefined;
  return next ? viewKey(next) : undefined;
}

/** Whether two members are known to have finished view `key` together (virtual synchrony applies). */
function endedTogether(a: Incarnation, b: Incarnation, key: string): boolean {
  const na = successor(a, key);
  return na !== undefined && na === successor(b, key);
}

function pairs<T>(xs: readonly T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) out.push([xs[i]!, xs[j]!]);
  return out;
}

/** Members that pass from view V to the same next view delivered the same messages in V. */
export const virtualSynchrony: Checker = {
  name: 'virtual-synchrony',
  check: (w) => {
    const out: string[] = [];
    const views = w.incarnations.map((i) => [i, byView(i)] as const);
    for (const [[a, va], [b, vb]] of pairs(views)) {
      for (const v of a.views) {
        const key = viewKey(v);
        if (!endedTogether(a, b, key)) continue;
        const sa = new Set((va.get(key) ?? []).map((d) => d.payload));
        const sb = new Set((vb.get(key) ?? []).map((d) => d.payload));
        const onlyA = [...sa].filter((p) => !sb.has(p));
        const onlyB = [...sb].filter((p) => !sa.has(p));
        if (onlyA.length + onlyB.length > 0)
          out.push(
            `view ${key}: ${a.member} and ${b.member} moved on together but differ (${onlyA.slice(0, 2).join(',')} | ${onlyB.slice(0, 2).join(',')})`,
          );
      }
    }
    return out;
  },
};

/**
 * One view per view id: every member that passed from a view to a next one passed to the same
 * next view (members and epoch). Two flushes may both install view v+1 (the FlushOk switch), but
 * a later attempt adopts the earlier one's whole Install; were they different, both lineages
 * would run on, and when they met the lower one's committed work would be discarded (RPC seed
 * 6002459). Groups founded apart (a second lineage at the same seeds) start from views of their
 * own, so they never share a predecessor.
 */
export const oneView: Checker = {
  name: 'one-view',
  check: (w) => {
    const out: string[] = [];
    const next = new Map<string, { key: string; member: MemberId }>();
    for (const inc of w.incarnations)
      for (let k = 1; k < inc.views.length; k++) {
        const from = viewKey(inc.views[k - 1]!);
        const to = viewKey(inc.views[k]!);
        const seen = next.get(from);
        if (!seen) next.set(from, { key: to, member: inc.member });
        else if (seen.key !== to)
          out.push(
            `view ${from} was followed by ${seen.key} at ${seen.member} and by ${to} at ${inc.member}`,
          );
      }
    return out;
  },
};

/**
 * One order: within a view, a global sequence number names the same message everywhere, for
 * every pair of members that ended the view together or are both still in it; and where both
 * messages are `majority`/`safe`, for every pair whatsoever (a member that later failed included).
 */
export const totalOrder: Checker = {
  name: 'total-order',
  check: (w) => {
    const out: string[] = [];
    const views = w.incarnations.map((i) => [i, byView(i)] as const);
    for (const [inc, vs] of views)
      for (const [key, ds] of vs) {
        let last = -1;
        for (const d of ds) {
          if (d.order !== 'total' || d.gseq === undefined) continue;
          if (d.gseq <= last) out.push(`${inc.member} view ${key}: gseq ${d.gseq} after ${last}`);
          last = d.gseq;
        }
      }
    for (const [[a, va], [b, vb]] of pairs(views)) {
      for (const [key, da] of va) {
        const db = vb.get(key);
        if (!db) continue;
        const lastA = a.views[a.views.length - 1];
        const lastB = b.views[b.views.length - 1];
        const together =
          endedTogether(a, b, key) ||
          (survivor(a) && survivor(b) && lastA && lastB && viewKey(lastA) === key && viewKey(lastB) === key);
        const atB = new Map<number, SimDelivery>();
        for (const d of db) if (d.order === 'total' && d.gseq !== undefined) atB.set(d.gseq, d);
        for (const d of da) {
          if (d.order !== 'total' || d.gseq === undefined) continue;
          const o = atB.get(d.gseq);
          if (!o || o.payload === d.payload) continue;
          // Mixed QoS (RMP): two messages get the weaker of their two guarantees.
          const isStrong = (x: SimDelivery) => x.resilience === 'majority' || x.resilience === 'safe';
          const strong = isStrong(d) && isStrong(o);
          if (together || strong)
            out.push(
              `view ${key} gseq ${d.gseq}: ${a.member} has ${d.payload}, ${b.member} has ${o.payload}`,
            );
        }
      }
    }
    return out;
  },
};

/** Every message a surviving member cast, it delivered itself. */
export const selfDelivery: Checker = {
  name: 'self-delivery',
  check: (w) => {
    const out: string[] = [];
    for (const inc of w.incarnations.filter(survivor)) {
      const got = new Set(inc.delivered.filter((d) => d.from === inc.member).map((d) => d.payload));
      const missing = inc.casts.filter((p) => !got.has(p));
      if (missing.length > 0)
        out.push(`${inc.member} never delivered ${missing.length} own casts (${missing[0]})`);
    }
    return out;
  },
};

/** Per-sender FIFO for a member's own view of each sender: casts in cast order (gaps allowed
 * only where the receiver was not yet a member). */
export const groupFifo: Checker = {
  name: 'fifo',
  check: (w) => {
    const out: string[] = [];
    for (const inc of w.incarnations) {
      const last = new Map<string, number>();
      for (const d of inc.delivered) {
        if (d.order !== 'fifo' && d.order !== 'reliable') continue;
        const n = Number(d.payload.slice(d.payload.indexOf('#') + 1));
        const prev = last.get(d.from) ?? -1;
        if (n <= prev) out.push(`${inc.member} delivered ${d.payload} after #${prev}`);
        last.set(d.from, n);
      }
    }
    return out;
  },
};

/** Once faults stop, the surviving members share one view holding every live node, and each
 * delivered every message its fellow survivors delivered in views they shared. */
export const liveness: Checker = {
  name: 'liveness',
  check: (w) => {
    const out: string[] = [];
    const live = w.incarnations.filter(survivor);
    const finals = new Set(
      live.map((i) => (i.views.length ? viewKey(i.views[i.views.length - 1]!) : 'none')),
    );
    if (finals.size !== 1)
      out.push(`survivors end in ${finals.size} different views: ${[...finals].join(' ')}`);
    const members = new Set<MemberId>(live.flatMap((i) => i.views[i.views.length - 1]?.members ?? []));
    for (const i of live) if (!members.has(i.member)) out.push(`${i.member} is alive but in no final view`);
    const delivered = new Map(live.map((i) => [i.member, new Set(i.delivered.map((d) => d.payload))]));
    for (const s of live) {
      const viewsOf = new Map(s.views.map((v) => [v.id, v.members]));
      for (const d of s.delivered) {
        const vm = d.viewId === undefined ? undefined : viewsOf.get(d.viewId);
        if (!vm) continue;
        for (const r of live) {
          // Only members that installed that view owe its messages (one voted into a founding
          // view it never heard of joins later instead).
          if (r === s || !vm.includes(r.member) || !r.views.some((v) => v.id === d.viewId)) continue;
          if (!delivered.get(r.member)!.has(d.payload)) {
            out.push(
              `${r.member} never delivered ${d.payload}, delivered by ${s.member} in view ${d.viewId}`,
            );
            break;
          }
        }
        if (out.length > 20) return out;
      }
    }
    return out;
  },
};

/**
 * State transfer: survivors end with the same replicated state, joiners included. A joiner's
 * state was restored from a snapshot at its join point and then advanced by its own
 * deliveries; a state taken a message early or late would leave it different forever.
 */
export const sameState: Checker = {
  name: 'same-state',
  check: (w) => {
    const live = w.incarnations.filter(survivor);
    const states = new Map<string, string[]>();
    for (const i of live) {
      const k = JSON.stringify(i.state);
      states.set(k, [...(states.get(k) ?? []), `${i.member}${i.restoredAt !== null ? '(joined)' : ''}`]);
    }
    if (states.size <= 1) return [];
    return [
      `survivors hold ${states.size} different states: ${[...states].map(([k, m]) => `${m.join(',')}=${k}`).join(' ')}`,
    ];
  },
};

/**
 * Resilience (RMP): a totally ordered message that any member delivered in view V is delivered
 * in V by every member passing from V to its next view W, whenever its resilience promises that
 * it survives the members lost between V and W. `safe`: always (every member of V held it).
 * `majority`: whenever W holds a majority of V (a majority held it, so some holder is in W).
 * `k`: whenever at most k members of V are missing from W (the deliverer and k others held it).
 * `none` promises nothing once its deliverer fails.
 */
export const resilience: Checker = {
  name: 'resilience',
  check: (w) => {
    const out: string[] = [];
    // Every delivery of a resilient total message, by view key.
    const delivered = new Map<string, Map<string, { d: SimDelivery; by: MemberId }>>();
    for (const inc of w.incarnations)
      for (const [key, ds] of byView(inc))
        for (const d of ds) {
          if (d.order !== 'total' || !d.resilience || d.resilience === 'none') continue;
          const m = delivered.get(key) ?? new Map();
          if (!m.has(d.payload)) m.set(d.payload, { d, by: inc.member });
          delivered.set(key, m);
        }
    for (const inc of w.incarnations) {
      const mine = byView(inc);
      for (let i = 0; i + 1 < inc.views.length; i++) {
        const v = inc.views[i]!;
        const next = inc.views[i + 1]!;
        const key = viewKey(v);
        const must = delivered.get(key);
        if (!must) continue;
        const lost = v.members.filter((m) => !next.members.includes(m)).length;
        const kept = v.members.length - lost;
        const got = new Set((mine.get(key) ?? []).map((d) => d.payload));
        for (const [payload, { d, by }] of must) {
          const promised =
            d.resilience === 'safe' ||
            (d.resilience === 'majority' && kept > v.members.length / 2) ||
            (d.resilience === 'k' && lost <= (d.k ?? 0));
          if (promised && !got.has(payload))
            out.push(
              `view ${key}: ${by} delivered ${payload} (${d.resilience}${d.resilience === 'k' ? `=${d.k}` : ''}) ` +
                `but ${inc.member} moved on to ${viewKey(next)} (${lost} of ${v.members.length} lost) without it`,
            );
          if (out.length > 20) return out;
        }
      }
    }
    return out;
  },
};

/**
 * Progress (liveness after the faults): a totally ordered probe that a surviving member casts
 * once the network is quiet ({@link ScenarioConfig.probeAtMs}) is delivered by every survivor
 * that was already running then and did not join after the probe was ordered, before the run ends. A group whose members all share one view
 * but never deliver again (a flush nobody finishes or restarts) is a `wedge`; `self-delivery`
 * and `same-state` only notice a wedge that happens to strand casts made during the faults.
 */
export const progress: Checker = {
  name: 'progress',
  check: (w) => {
    const at = w.cfg.probeAtMs;
    if (at === undefined) return [];
    const live = w.incarnations.filter(survivor);
    const probes = w.probes.filter((p) => live.some((i) => i.member === p.member));
    if (probes.length === 0)
      return live.length > 0 ? [`no survivor cast a probe at ${at} ms (none was in a view)`] : [];
    const missing: string[] = [];
    let undelivered = 0;
    for (const p of probes) {
      // Views the probe was delivered in, anywhere. A member whose first view came after all of
      // them joined once the probe was ordered: virtual synchrony gives it the state, not the
      // delivery (mixed seed 9002830: the probes were cast while the group was being founded
      // and ordered in its first view; two members restarted just before them joined later).
      const inViews = w.incarnations.flatMap((x) =>
        x.delivered.flatMap((d) => (d.payload === p.payload && d.viewId !== undefined ? [d.viewId] : [])),
      );
      const joinedAfter = (i: Incarnation) =>
        inViews.length > 0 && i.views.length > 0 && inViews.every((v) => i.views[0]!.id > v);
      const lacking = live.filter(
        (i) => i.startedAt <= p.at && !joinedAfter(i) && !i.delivered.some((d) => d.payload === p.payload),
      );
      if (lacking.length === 0) continue;
      undelivered++;
      if (missing.length < 2)
        missing.push(`${p.payload} missing at ${lacking.map((i) => i.member).join(',')}`);
    }
    if (undelivered === 0) return [];
    const finals = new Set(
      live.map((i) => (i.views.length ? viewKey(i.views[i.views.length - 1]!) : 'none')),
    );
    const what =
      finals.size === 1
        ? `wedge: all ${live.length} survivors share view ${[...finals][0]}, yet`
        : `no progress: survivors in ${finals.size} views, and`;
    return [
      `${what} ${undelivered} of ${probes.length} probes cast at ${at} ms are undelivered after ${w.cfg.endMs - at} ms (${missing.join('; ')})`,
    ];
  },
};

/**
 * The primary partition, directly (docs/protocol.md "gms guarantees" and "Joining a running
 * group"): a flush needs a strict majority of the view as participants, each of which installs
 * the next view, and a view admits at most max(1, ⌊(s − 1) / 2⌋) joiners, s being the members
 * that stay (so they keep a strict majority of it, but for a view of one). So every view a member
 * passes to from view V keeps more than half of V's members, and admits no more joiners than
 * that. A voluntary leaver counts as a participant without staying; the simulator's members
 * never leave, so here the members that stay are the participants. `one-view` sees a minority's
 * view only once a second lineage installs the same view id; this sees one that moved on
 * whether or not the rest of the old view ever did (FINDINGS 137).
 */
export const majoritySuccession: Checker = {
  name: 'majority-succession',
  check: (w) => {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const inc of w.incarnations)
      for (let k = 1; k < inc.views.length; k++) {
        const from = inc.views[k - 1]!;
        const to = inc.views[k]!;
        const key = `${viewKey(from)} ${viewKey(to)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const stay = to.members.filter((m) => from.members.includes(m)).length;
        const joiners = to.members.length - stay;
        const room = Math.max(1, Math.floor((stay - 1) / 2));
        if (stay * 2 <= from.members.length)
          out.push(
            `${inc.member}: view ${viewKey(to)} keeps ${stay} of the ${from.members.length} of ${viewKey(from)}`,
          );
        else if (joiners > room)
          out.push(
            `${inc.member}: view ${viewKey(to)} admits ${joiners} joiners, keeps ${stay} of ${viewKey(from)} (at most ${room})`,
          );
      }
    return out;
  },
};

export const GROUP_CHECKERS: readonly Checker[] = [
  resilience,
  sameState,
  virtualSynchrony,
  oneView,
  majoritySuccession,
  totalOrder,
  groupFifo,
  noDuplicates,
  noInvented,
  selfDelivery,
  liveness,
  progress,
  noErrors,
  blackoutReform,
];

export type { World };
