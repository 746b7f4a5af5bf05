import { type Group, type JoinOptions, joinGroup } from '../group/group.js';
import { checkSecurity, keyRing } from '../wire/auth.js';
import { Replica, type ReplicaOptions } from './replica.js';

/**
 * Options of {@link joinReplica}: the group's and the replica's. One `key` (required, or
 * `insecure: true`) configures both: the group's packets and the non-member clients' packets
 * are authenticated (and with `encrypt`, encrypted) with it.
 */
export interface JoinReplicaOptions extends Omit<JoinOptions, 'state' | 'on'>, ReplicaOptions {}

/**
 * Make `instance` a replica of the object group `groupName`: join the group (or found it), get
 * the state at the join point from a running member, and serve ordered calls, queries,
 * handler calls and non-member clients.
 *
 * @example
 * ```ts
 * const { replica, group } = await joinReplica(new Bank(), 'bank', {
 *   seeds: ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'],
 *   validate: validateBankRequest,
 * });
 * // ... later
 * await group.leave();
 * ```
 */
export async function joinReplica<T extends object>(
  instance: T,
  groupName: string,
  options: JoinReplicaOptions,
): Promise<{ replica: Replica<T>; group: Group }> {
  checkSecurity(options, 'joinReplica');
  // One key ring for the group's packets and the clients': Group.setKey rolls both.
  const key = options.key === undefined ? undefined : keyRing(options.key);
  options = key === undefined ? options : { ...options, key };
  const replica = new Replica(instance, options);
  // The replica is the state provider, and listens from the first event on: a joiner's held
  // deliveries arrive right after its state, before joinGroup resolves.
  const group = await joinGroup(groupName, { ...options, state: replica, on: replica.groupListeners() });
  replica.attach(group);
  return { replica, group };
}
