/**
 * The simulated network's topology: which node can reach which (partitions, one-way and
 * non-transitive cuts) and how a member's multicast is carried (IP multicast or unicast
 * fan-out). The world asks {@link Links.blocks} per packet and {@link multicastTargets} per
 * multicast; the fault plans (test/sim/patterns.ts) change the links over time.
 */

/** How a member's `transmit` to everyone travels, as the two modes of the UDP transport. */
export type DeliveryMode = 'multicast' | 'fanout';
export const DELIVERIES: readonly DeliveryMode[] = ['multicast', 'fanout'];

/**
 * Reachability between nodes (by index). Partitions put nodes on sides; a packet crosses only
 * between nodes on the same side and only over a link that is not cut in that direction.
 */
export class Links {
  private side: number[];
  /** Directed cuts `from>to`: `from`'s packets do not reach `to` (the reverse may still work). */
  private readonly cuts = new Set<string>();

  constructor(private readonly nodes: number) {
    this.side = Array.from({ length: nodes }, () => 0);
  }

  blocks(from: number, to: number): boolean {
    return this.side[from] !== this.side[to] || this.cuts.has(`${from}>${to}`);
  }

  partition(sides: readonly number[]): void {
    this.side = [...sides];
  }

  /** Whether some node is on another side than node 0 (a partition is in effect). */
  get split(): boolean {
    return this.side.some((x) => x !== this.side[0]);
  }

  /** The side node `index` is on (0 when nothing is split). */
  sideOf(index: number): number {
    return this.side[index]!;
  }

  /** Cut the link `from → to` (one way); `both` cuts the reverse too. */
  cut(from: number, to: number, both = false): void {
    this.cuts.add(`${from}>${to}`);
    if (both) this.cuts.add(`${to}>${from}`);
  }

  restore(from: number, to: number, both = false): void {
    this.cuts.delete(`${from}>${to}`);
    if (both) this.cuts.delete(`${to}>${from}`);
  }

  /** Every side joined and every cut restored. */
  heal(): void {
    this.side = Array.from({ length: this.nodes }, () => 0);
    this.cuts.clear();
  }

  /** For the trace: sides as digits, then the cuts. */
  describe(): string {
    const cuts = [...this.cuts].sort();
    return `${this.side.join('')}${cuts.length ? ` cut ${cuts.join(' ')}` : ''}`;
  }

  /**
   * The largest set of `live` nodes in which every two reach each other directly, both ways: the
   * members that can stay in one view (gms's failure detector hears each member directly, so two
   * cut apart suspect each other however many others reach both). Exhaustive: `live` is at most
   * the simulator's 9 members.
   */
  largestClique(live: readonly number[]): number[] {
    let best: number[] = [];
    const n = live.length;
    for (let mask = 1; mask < 1 << n; mask++) {
      const set = live.filter((_, i) => mask & (1 << i));
      if (set.length <= best.length) continue;
      const ok = set.every((a, i) => set.slice(i + 1).every((b) => !this.blocks(a, b) && !this.blocks(b, a)));
      if (ok) best = set;
    }
    return best;
  }

  /**
   * Whether `a` and `b` reach each other both ways, directly or through others (the world's
   * notion of "connected").
   */
  components(live: readonly number[]): number[][] {
    const out: number[][] = [];
    const seen = new Set<number>();
    for (const start of live) {
      if (seen.has(start)) continue;
      // Nodes that reach each other in both directions: the only pairs that can agree on a view.
      const comp = [start];
      seen.add(start);
      for (let i = 0; i < comp.length; i++)
        for (const n of live)
          if (!seen.has(n) && !this.blocks(comp[i]!, n) && !this.blocks(n, comp[i]!)) {
            seen.add(n);
            comp.push(n);
          }
      out.push(comp);
    }
    return out;
  }
}

/**
 * The nodes a multicast from `src` reaches. IP multicast reaches every node on the group
 * address (joiners and members of other views included); unicast fan-out (the default UDP
 * mode) sends one copy to each address of the sender's last view (`peers`), nobody else.
 */
export function multicastTargets<N extends { index: number; address: string }>(
  mode: DeliveryMode,
  src: N,
  nodes: readonly N[],
  peers: readonly string[],
): N[] {
  if (mode === 'multicast') return nodes.filter((d) => d !== src);
  return nodes.filter((d) => d !== src && peers.includes(d.address));
}
