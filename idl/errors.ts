/** Errors raised while reading IDL text or checking requests against a model. */
import { TroupeError } from '../runtime/errors.js';

/** Where in a source file something is; line and column are 1-based. */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

/**
 * IDL text is malformed or inconsistent (syntax error, unknown type, duplicate name).
 * `toString()` gives the one-line `file:line:column: message (hint: ...)` form for terminals.
 */
export class IdlParseError extends TroupeError {
  constructor(
    /** The bare message, without position or hint. */
    readonly reason: string,
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** A suggestion for fixing it, when there is one. */
    readonly hint?: string,
  ) {
    super('IDL_PARSE', `${file}:${line}:${column}: ${reason}${hint ? ` (hint: ${hint})` : ''}`);
  }
}

/** A request named a method the service does not declare. Raised before user code runs. */
export class UnknownMethodError extends TroupeError {
  constructor(
    readonly service: string,
    readonly method: string,
  ) {
    super('UNKNOWN_METHOD', `service '${service}' has no method '${method}'`);
  }
}

/** A model handed to the validator references something it does not declare. */
export class IdlModelError extends TroupeError {
  constructor(message: string) {
    super('IDL_MODEL', message);
  }
}
