export {
  AUTH_TAG_BYTES,
  type AuthKey,
  authKeyBytes,
  checkAuth,
  MAX_TRACKED_SENDERS,
  MIN_KEY_BYTES,
  PacketAuth,
  type PacketAuthOptions,
  REPLAY_WINDOW,
  ReplayWindow,
  refuseAuthenticated,
} from './auth.js';
export { AuthConfigError, DecodeError, type DecodeErrorCode } from './errors.js';
export { type GuardLimits, guardMsgpack, PACKET_LIMITS } from './msgpack-guard.js';
export {
  decodeFixedHeader,
  decodePacket,
  type Endpoint,
  encodePacket,
  FIXED_HEADER_BYTES,
  type FixedHeader,
  Flags,
  groupIdOf,
  MAX_PACKET_BYTES,
  type Packet,
  PacketType,
} from './packet.js';
