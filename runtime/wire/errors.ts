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
  | 'DECODE_REPLAYED';

/** The only error {@link decodePacket} throws: the bytes are not a packet troupe accepts. */
export class DecodeError extends TroupeError {
  declare readonly code: DecodeErrorCode;
  constructor(code: DecodeErrorCode, message: string) {
    super(code, message);
  }
}

/** A group key is unusable (`AUTH_BAD_KEY`): not a string or bytes, or shorter than 16 bytes. */
export class AuthConfigError extends TroupeError {
  constructor(message: string) {
    super('AUTH_BAD_KEY', message);
  }
}
