// Every benchmark entry, in run order. To add one: create bench/entries/<area>-<what>.ts exporting
// its BenchEntry values (as the default export, an array), give each a `baseline: against(...)`
// naming the floor it is compared to, and add the import below. Baselines always run first.
import floorRawDgram from './entries/floor-raw-dgram.js';
import floorTcpRr from './entries/floor-tcp-rr.js';
import floorTcpStream from './entries/floor-tcp-stream.js';
import floorUdpRelay from './entries/floor-udp-relay.js';
import groupBulk from './entries/group-bulk.js';
import groupTotal from './entries/group-total.js';
import observeCost from './entries/observe-cost.js';
import rpcOrdered from './entries/rpc-ordered.js';
import rpcSlow from './entries/rpc-slow.js';
import type { BenchEntry } from './lib/types.js';

export const entries: readonly BenchEntry[] = [
  ...floorRawDgram,
  ...floorTcpRr,
  ...floorTcpStream,
  ...floorUdpRelay,
  ...groupTotal,
  ...groupBulk,
  ...rpcOrdered,
  ...observeCost,
  ...rpcSlow,
];

/**
 * The entries whose name contains `only` (all when undefined), plus every baseline they need
 * (transitively), in an order where each baseline comes before the entries compared to it.
 */
export function select(all: readonly BenchEntry[], only?: string): BenchEntry[] {
  const byName = new Map(all.map((e) => [e.name, e]));
  if (byName.size !== all.length) throw new Error('duplicate benchmark entry names');
  const picked = all.filter((e) => only === undefined || e.name.includes(only));
  const ordered: BenchEntry[] = [];
  const visiting = new Set<string>();
  const visit = (e: BenchEntry): void => {
    if (ordered.includes(e)) return;
    if (visiting.has(e.name)) throw new Error(`baseline cycle through "${e.name}"`);
    visiting.add(e.name);
    for (const ref of [...(e.baseline ? [e.baseline] : []), ...(e.also ?? [])]) {
      const base = byName.get(ref.entry);
      if (!base) throw new Error(`"${e.name}": unknown baseline "${ref.entry}"`);
      visit(base);
    }
    ordered.push(e);
  };
  picked.forEach(visit);
  return ordered;
}
