import type { Endpoint } from '../wire/packet.js';

/**
 * A member's identity: node id and incarnation, written `nnnnnnnn.i` (node in hex). A node
 * that restarts gets a new incarnation and so is a new member (RMP: removed members rejoin
 * only as new members). Strings make members usable as Map keys and readable in traces.
 */
export type MemberId = string;

export function memberId(ep: Endpoint): MemberId {
  return `${(ep.node >>> 0).toString(16).padStart(8, '0')}.${ep.inc >>> 0}`;
}

export function endpointOf(id: MemberId): Endpoint {
  const dot = id.indexOf('.');
  return { node: Number.parseInt(id.slice(0, dot), 16) >>> 0, inc: Number(id.slice(dot + 1)) >>> 0 };
}
