/** Errors raised while turning TypeScript services into IDL, or while generating files. */
import { TroupeError } from '../runtime/errors.js';

/**
 * A service cannot be described in IDL: a type that cannot travel (function, class with
 * methods, `any`), a decorator argument that is not a literal, and so on. The message starts
 * with `file:line:column:` and names the method and parameter.
 */
export class ExtractError extends TroupeError {
  constructor(
    readonly reason: string,
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** `Class.method(param)` or `Type.field`: what was being described. */
    readonly where: string,
  ) {
    super('EXTRACT', `${file}:${line}:${column}: ${where}: ${reason}`);
  }
}

/** The CLI was called wrongly (unknown command or flag, missing argument). */
export class UsageError extends TroupeError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** A file the command needs could not be read. */
export class InputError extends TroupeError {
  constructor(message: string) {
    super('INPUT', message);
  }
}
