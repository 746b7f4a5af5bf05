/**
 * The QoS of a request's totally ordered cast, as a method declares it: `@Ordered({ qos })`.
 * Requests are always totally ordered; `qos` chooses when a replica may apply one (RMP's
 * resilience), trading latency for what survives failures and partitions.
 */
import { type CallQos, isCallQos } from '../../idl/model.js';
import type { QoS } from '../stack/types.js';
import { RpcConfigError } from './errors.js';

/**
 * - `majority` (default): applied once a majority holds it; no two replicas ever apply requests
 *   in different orders, so a reply a client got is the group's answer even if the replica that
 *   sent it fails at once, and `outcome()` at any survivor agrees with it.
 * - `none`: applied as soon as ordered. Faster, but a replica that applies a request, replies and
 *   fails before anyone else holds it may have answered from an order the survivors never agree
 *   on: the caller then holds a reply the group does not.
 * - `k=N`: applied once N other members hold it (safe against N failures).
 * - `safe`: applied once every member of the view holds it.
 */
export type { CallQos };

/** Requests of methods that declare no `qos`: `majority` (see {@link CallQos}). */
export const DEFAULT_CALL_QOS: QoS = Object.freeze({ order: 'total', resilience: 'majority' });

/** The group QoS for `qos`; `where` names the method in the error for a value it does not know. */
export function castQos(qos: string | undefined, where: string): QoS {
  if (qos === undefined) return DEFAULT_CALL_QOS;
  if (!isCallQos(qos))
    throw new RpcConfigError(`${where}: qos '${qos}' is not none, majority, safe or k=N (1 ≤ N ≤ 999)`);
  if (qos === 'none') return { order: 'total' };
  if (qos === 'majority' || qos === 'safe') return { order: 'total', resilience: qos };
  return { order: 'total', resilience: 'k', k: Number(qos.slice(2)) };
}
