import { TroupeError } from '../errors.js';

/** Why a packet was refused. Every refusal on the receive path carries one of these. */
export type DecodeErrorCode =
  | 'DECODE_TRUNCATED'
  | 'DECODE_OVERSIZED'
  | 'DECODE_BAD_MAGIC'
  | 'DECODE_BAD_VERSION'
  | 'DECODE_BAD_TYPE'
  | 'DECODE_BAD_LENGTH'
  | 'DECODE_BAD_BODY'
  | 'DECODE_BAD_SHAPE'
  /** No tag where the group key requires one, a tag that does not verify (wrong key, altered
   * header, tag or body), or a tag on a packet to a member without a key. */
  | 'DECODE_UNAUTHENTICATED'
  /** An authentic packet whose counter was already accepted, or is older than the replay window. */
  | 'DECODE_REPLAYED'
  /** An authentic packet whose sender's clock is further from the receiver's than the freshness
   * bound: a recording replayed late, or clocks out of step. */
  | 'DECODE_STALE'
  /** An authentic packet from a sender this receiver has no handshake with yet: refused, and
   * the receiver challenges the sender (docs/protocol.md, "Handshake"). */
  | 'DECODE_UNKNOWN_SENDER';

/** The only error {@link decodePacket} throws: the bytes are not a packet troupe accepts. */
export class DecodeError extends TroupeError {
  declare readonly code: DecodeErrorCode;
  constructor(code: DecodeErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * The security configuration is unusable. `KEY_REQUIRED`: neither a `key` nor `insecure: true`
 * was given (troupe is secure by default). `AUTH_BAD_KEY`: the key is not a string or bytes,
 * is shorter than 32 bytes, or was given together with `insecure: true`, or `encrypt` was
 * asked for without a key.
 */
export class AuthConfigError extends TroupeError {
  declare readonly code: 'AUTH_BAD_KEY' | 'KEY_REQUIRED';
  constructor(message: string, code: 'AUTH_BAD_KEY' | 'KEY_REQUIRED' = 'AUTH_BAD_KEY') {
    super(code, message);
  }
}
