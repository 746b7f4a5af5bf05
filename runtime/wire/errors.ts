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
  | 'DECODE_BAD_SHAPE';

/** The only error {@link decodePacket} throws: the bytes are not a packet troupe accepts. */
export class DecodeError extends TroupeError {
  declare readonly code: DecodeErrorCode;
  constructor(code: DecodeErrorCode, message: string) {
    super(code, message);
  }
}
