/**
 * `troupe/client`: everything a process that only calls a replicated service needs, and
 * nothing of the group stack (no membership, no total order, no layers), so a client process
 * loads a fraction of troupe. Generated client stubs import their types from here.
 *
 * @example
 * ```ts
 * import { connect } from 'troupe/client';
 * import { KvClient } from './generated/kv.client.js';
 *
 * const kv = KvClient.connect(await connect({ group: 'kv', seeds: ['127.0.0.1:7001'], key }));
 * ```
 */

export { UnknownMethodError } from '../idl/errors.js';
// What connecting and calling throw, so that a calls-only process can test with instanceof.
export { BadRequestError, ForeignGroupError, KeyMismatchError, TroupeError } from '../runtime/errors.js';
export { LaunchError } from '../runtime/launch/errors.js';
export { LAUNCH_KEY_BYTES, parseKey, readKeyFile } from '../runtime/launch/key.js';
export { resolveSeeds } from '../runtime/launch/seeds.js';
export type { CallOptions, Invoker, Replies, ReplyEntry, ReplyMode } from '../runtime/rpc/api.js';
export {
  type ClientOutcome,
  type ClientOutcomeStatus,
  type ClientStats,
  type ClientTimers,
  type ClientView,
  type ConnectOptions,
  connect,
  type ReissueOptions,
  TroupeClient,
} from '../runtime/rpc/client.js';
export {
  BadRequestIdError,
  CallOptionError,
  ClientClosedError,
  FailoverError,
  InterruptedError,
  NoContactError,
  NoMajorityError,
  OutcomeExpiredError,
  OutcomeUnknownError,
  RemoteError,
  RequestPendingError,
  RpcConfigError,
  TimeoutError,
  UnknownRequestError,
  UnknownServiceError,
  type WireError,
} from '../runtime/rpc/errors.js';
export type { OutcomeStatus } from '../runtime/rpc/protocol.js';
export { stubCallOptions } from '../runtime/rpc/stub.js';
export { type TcpOptions, type TcpTransport, tcp } from '../runtime/transport/tcp.js';
export type { Transport, TransportStats } from '../runtime/transport/types.js';
export { type UdpOptions, udp } from '../runtime/transport/udp.js';
export type { AuthKey } from '../runtime/wire/auth.js';
export { AuthConfigError } from '../runtime/wire/errors.js';
