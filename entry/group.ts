/**
 * `troupe/group`: raw process groups, without replicated objects: join a group, cast totally
 * ordered messages, watch views (virtual synchrony), transfer state. See docs/api.md.
 */

export {
  ForeignGroupError,
  JoinAbortedError,
  JoinError,
  JoinTimeoutError,
  KeyMismatchError,
  MembershipFileError,
  NoAnswerError,
  StackConfigError,
  StateBusyError,
  TroupeError,
} from '../runtime/errors.js';
export { Group, type JoinOptions, joinGroup } from '../runtime/group/group.js';
export type {
  Delivery,
  GroupEvents,
  GroupHandle,
  LineageYield,
  StateProvider,
  Suspicion,
  ViewChange,
} from '../runtime/group/types.js';
export { GROUP_STACK } from '../runtime/layers/index.js';
export type { MemberId } from '../runtime/stack/member.js';
export type { QoS, View } from '../runtime/stack/types.js';
export { MemoryHub, MemoryTransport } from '../runtime/transport/memory.js';
export { type TcpOptions, type TcpTransport, tcp } from '../runtime/transport/tcp.js';
export type { Transport, TransportStats } from '../runtime/transport/types.js';
export { type UdpOptions, udp } from '../runtime/transport/udp.js';
export type { AuthKey } from '../runtime/wire/auth.js';
