/** The RPC runtime: replicas (server), the client, call context, errors. See docs/rpc.md. */
export type { CallOptions, Invoker, Replies, ReplyEntry, ReplyMode } from './api.js';
export {
  type ClientOutcome,
  type ClientOutcomeStatus,
  type ClientStats,
  type ClientView,
  type ConnectOptions,
  connect,
  type ReissueOptions,
  TroupeClient,
} from './client.js';
export { type CallContext, currentCall } from './context.js';
export { Handler, Ordered, Query, Service } from './decorators.js';
export {
  BadRequestIdError,
  ClientClosedError,
  FailoverError,
  InterruptedError,
  NoCallContextError,
  NoContactError,
  NoMajorityError,
  OutcomeExpiredError,
  OutcomeUnknownError,
  RemoteError,
  RequestPendingError,
  RpcConfigError,
  SnapshotError,
  TimeoutError,
  UnknownRequestError,
  UnknownServiceError,
  type WireError,
} from './errors.js';
export { type JoinReplicaOptions, joinReplica } from './join.js';
export { DEFAULT_OUTCOME_LIMITS, type OutcomeLimits } from './outcomes.js';
export type { OutcomeStatus } from './protocol.js';
export {
  type AppState,
  type LocalOutcome,
  Replica,
  type ReplicaOptions,
  type ReplicaStats,
  type RunningApply,
  serve,
} from './replica.js';
