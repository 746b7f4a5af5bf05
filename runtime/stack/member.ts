import type { Endpoint } from '../wire/packet.js';

/**
 * A member's identity: node id and incarnation, written `nnnnnnnn.i` (node in hex). A node
 * that restarts gets a new incarnation and so is a new member (RMP: removed members rejoin
 * only as new members). Strings make members usable as Map keys and readable in traces.
 */
export type MemberId = string;

/** Recent ids by node and incarnation: every received packet names its sender, and formatting
 * the id anew each time was a visible share of a member's (and the simulator's) time. Bounded,
 * so a peer inventing endpoints costs a clear now and then, not memory. */
const ids = new Map<number, string>();
const ID_CACHE = 4_096;

export function memberId(ep: Endpoint): MemberId {
  const node = ep.node >>> 0;
  const inc = ep.inc >>> 0;
  // node < 2^32 and inc < 2^32: node * 2^21 + inc is exact below 2^53 only for inc < 2^21, so
  // larger incarnations go uncached.
  const key = inc < 0x20_0000 ? node * 0x20_0000 + inc : -1;
  const hit = key >= 0 ? ids.get(key) : undefined;
  if (hit !== undefined) return hit;
  const id = `${node.toString(16).padStart(8, '0')}.${inc}`;
  if (key >= 0) {
    if (ids.size >= ID_CACHE) ids.clear();
    ids.set(key, id);
  }
  return id;
}

/** The node part of a member id: the same in every incarnation of one process. */
export function nodeOf(id: MemberId): string {
  return id.slice(0, id.indexOf('.'));
}

export function endpointOf(id: MemberId): Endpoint {
  const dot = id.indexOf('.');
  return { node: Number.parseInt(id.slice(0, dot), 16) >>> 0, inc: Number(id.slice(dot + 1)) >>> 0 };
}
