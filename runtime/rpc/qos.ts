/**
 * The QoS of a request's totally ordered cast, as a method declares it: `@Ordered({ qos })`.
 * Requests are always totally ordered; `qos` chooses when a replica may apply one (RMP's
 * resilience), trading latency for what survives failures and partitions.
 */
import { type CallQos, isCallQos } from '../../idl/model.js';
import type { QoS } from '../stack/types.js';
import { RpcConfigError } from './errors.js';

/**
 * - `none` (default): applied as soon as ordered.
 * - `k=N`: applied once N other members hold it.
 * - `majority`: applied once a majority holds it; no two replicas ever apply requests in different
 *   orders, even across a partition.
 * - `safe`: applied once every member of the view holds it.
 */
export type { CallQos };

/** The group QoS for `qos`; `where` names the method in the error for a value it does not know. */
export function castQos(qos: string | undefined, where: string): QoS {
  if (qos === undefined) return { order: 'total' };
  if (!isCallQos(qos))
    throw new RpcConfigError(`${where}: qos '${qos}' is not none, majority, safe or k=N (1 ≤ N ≤ 999)`);
  if (qos === 'none') return { order: 'total' };
  if (qos === 'majority' || qos === 'safe') return { order: 'total', resilience: qos };
  return { order: 'total', resilience: 'k', k: Number(qos.slice(2)) };
}
