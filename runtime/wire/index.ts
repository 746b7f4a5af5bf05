export { DecodeError, type DecodeErrorCode } from './errors.js';
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
