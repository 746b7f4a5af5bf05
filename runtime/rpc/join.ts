import { type Group, JOIN_OPTIONS, type JoinOptions, joinGroup } from '../group/group.js';
import { unknownOption } from '../options.js';
import { checkSecurity, keyRing } from '../wire/auth.js';
import { RpcConfigError } from './errors.js';
import { Replica, type ReplicaOptions } from './replica.js';

/**
 * Options of {@link joinReplica}: the group's and the replica's. One `key` (required, or
 * `insecure: true`) configures both: the group's packets and the non-member clients' packets
 * are authenticated (and with `encrypt`, encrypted) with it.
 */
export interface JoinReplicaOptions extends Omit<JoinOptions, 'state' | 'on'>, ReplicaOptions {}

/** Every option a {@link Replica} takes: the compiler keeps it in step with {@link ReplicaOptions}. */
const REPLICA_OPTIONS = {
  validate: true,
  state: true,
  outcomes: true,
  clock: true,
  cookieSecret: true,
  clientPushMs: true,
  recastMs: true,
  key: true,
  encrypt: true,
  observe: true,
} as const satisfies Record<keyof ReplicaOptions, true>;

const { state: _state, on: _on, ...GROUP_OPTIONS } = JOIN_OPTIONS;
/** Every option {@link joinReplica} takes: the group's (but its own `state` and `on`) and the replica's. */
const JOIN_REPLICA_OPTIONS = { ...GROUP_OPTIONS, ...REPLICA_OPTIONS } as const satisfies Record<
  keyof JoinReplicaOptions,
  true
>;

/** `options` without what only the replica takes: what `joinGroup` is given. */
function groupPart(options: JoinReplicaOptions): Omit<JoinOptions, 'state' | 'on'> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (Object.hasOwn(GROUP_OPTIONS, k)) out[k] = v;
  return out as Omit<JoinOptions, 'state' | 'on'>;
}

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
  const unknown =
    typeof options === 'object' && options !== null
      ? unknownOption('joinReplica', options, JOIN_REPLICA_OPTIONS)
      : undefined;
  if (unknown) throw new RpcConfigError(unknown);
  checkSecurity(options, 'joinReplica');
  // One key ring for the group's packets and the clients': Group.setKey rolls both.
  const key = options.key === undefined ? undefined : keyRing(options.key);
  options = key === undefined ? options : { ...options, key };
  const replica = new Replica(instance, options);
  // The replica is the state provider, and listens from the first event on: a joiner's held
  // deliveries arrive right after its state, before joinGroup resolves.
  const group = await joinGroup(groupName, {
    ...groupPart(options),
    state: replica,
    on: replica.groupListeners(),
  });
  replica.attach(group);
  return { replica, group };
}
