/**
 * `troupe`: replicated services and their clients. Decorate a class, run `troupe gen`, then
 * serve it with {@link joinReplica} (or the `troupe serve` launcher) and call it with
 * {@link connect}. Raw groups are in `troupe/group`, a calls-only client in `troupe/client`.
 */

export { createValidator, type RequestValidator } from '../idl/validate.js';
export {
  JoinAbortedError,
  JoinError,
  JoinTimeoutError,
  MembershipFileError,
  NoAnswerError,
  StateBusyError,
} from '../runtime/errors.js';
export type { Group } from '../runtime/group/group.js';
export { type LaunchOptions, type LaunchTransport, readLaunchOptions } from '../runtime/launch/config.js';
export { writeKeyFile } from '../runtime/launch/key.js';
export { type RunningReplica, type RunReplicaOptions, runReplica } from '../runtime/launch/run.js';
export {
  createLogger,
  type Logger,
  type MetricsServer,
  type MetricsServerOptions,
  metricsServer,
  Observer,
  type ObserverOptions,
  type ObserveSink,
} from '../runtime/observe/index.js';
export { type CallContext, currentCall } from '../runtime/rpc/context.js';
export {
  Handler,
  type MethodOptions,
  Ordered,
  Query,
  type QueryOptions,
  Service,
  type ServiceMeta,
  type ServiceOptions,
  TROUPE_SERVICE_METADATA,
} from '../runtime/rpc/decorators.js';
export { NoCallContextError, SnapshotError } from '../runtime/rpc/errors.js';
export { type JoinReplicaOptions, joinReplica } from '../runtime/rpc/join.js';
export { DEFAULT_OUTCOME_LIMITS, type OutcomeLimits } from '../runtime/rpc/outcomes.js';
export type { CallQos } from '../runtime/rpc/qos.js';
export {
  type AppState,
  type LocalOutcome,
  Replica,
  type ReplicaOptions,
  type ReplicaStats,
  type RunningApply,
  serve,
} from '../runtime/rpc/replica.js';
export * from './client.js';
