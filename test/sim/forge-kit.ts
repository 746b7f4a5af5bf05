/**
 * What the two forgers share (test/sim/forge.ts forges the members' own packets,
 * test/sim/forge-client.ts the client protocol's): the forger's address and the amplification it
 * may see, random guesses, paths into a decoded tuple, the sample of captured templates kept per
 * kind, a datagram decoded for print, and the minimizer of a failing run. Helpers draw only from
 * the generator they are given, and only when asked (the template sample asks for a slot only
 * when a kind's latest four are full), so what a seed forges rests on its forger's draws alone.
 */
import { memberId } from '../../runtime/stack/member.js';
import type { RandomSource } from '../../runtime/stack/random.js';
import { decodePacket } from '../../runtime/wire/index.js';

/** The forger's own transport address (nothing listens there). */
export const FORGER = 'x9';
/** At most this many times the forged bytes may be sent to the forger's address. */
export const AMPLIFICATION = 4;

export const pick = <T>(r: RandomSource, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

export function randomHex(r: RandomSource, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(r() * 16).toString(16);
  return s;
}

export function randomBytes(r: RandomSource, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** A decoded value for print (bytes as their length). */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `bin(${x.length})` : x)) ?? String(v);
}

/** A datagram decoded for print by `fields` (of the packet), or why it does not decode. */
export function describeWith(
  bytes: Uint8Array,
  fields: (p: ReturnType<typeof decodePacket>, sender: string) => string,
): string {
  try {
    const p = decodePacket(bytes);
    return fields(p, memberId(p.sender));
  } catch (e) {
    return `(${bytes.length} bytes, does not decode: ${(e as Error).message})`;
  }
}

export type Path = number[];

/** Paths to every leaf and every array under `root` (the root array itself is `[]`). */
export function walk(root: unknown[]): { leaves: Path[]; arrays: Path[] } {
  const leaves: Path[] = [];
  const arrays: Path[] = [[]];
  const go = (v: unknown[], p: Path) => {
    v.forEach((x, i) => {
      const q = [...p, i];
      if (Array.isArray(x)) {
        arrays.push(q);
        go(x, q);
      } else leaves.push(q);
    });
  };
  go(root, []);
  return { leaves, arrays };
}

export function at(root: unknown[], p: Path): unknown {
  let v: unknown = root;
  for (const i of p) v = (v as unknown[])[i];
  return v;
}

export function put(root: unknown[], p: Path, x: unknown): void {
  const parent = at(root, p.slice(0, -1)) as unknown[];
  parent[p[p.length - 1]!] = x;
}

/**
 * Keeps a captured `template` of `kind` as a forger's template: the first four of each kind and
 * the latest four, the one it replaces among those four chosen by `slot` (0..3; asked only then).
 */
export function keepTemplate<K, T>(byKind: Map<K, T[]>, kind: K, template: T, slot: () => number): void {
  let list = byKind.get(kind);
  if (!list) {
    list = [];
    byKind.set(kind, list);
  }
  if (list.length < 8) list.push(template);
  else list[4 + slot()] = template;
}

/** The bytes of every datagram the events forged. */
export function forgedBytes(events: readonly { sent: readonly { bytes: Uint8Array }[] }[]): number {
  return events.reduce((s, e) => s + e.sent.reduce((t, x) => t + x.bytes.length, 0), 0);
}

/**
 * The fewest of a failing run's datagrams that still fail it (each alone first, then each
 * forgery event's, then all), by `replay` of those datagrams alone.
 */
export async function minimizeSent<D, R extends { violations: string[] }>(
  events: readonly { sent: D[] }[],
  replay: (sent: D[]) => Promise<R>,
): Promise<{ sent: D[]; result: R } | undefined> {
  const all = events.flatMap((e) => e.sent);
  const tries: D[][] = [...all.map((d) => [d]), ...events.map((e) => e.sent), all];
  const seen = new Set<string>();
  for (const t of tries) {
    const key = t.map((d) => all.indexOf(d)).join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const x = await replay(t);
    if (x.violations.length > 0) return { sent: t, result: x };
  }
  return undefined;
}
