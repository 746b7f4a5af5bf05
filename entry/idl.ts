/**
 * `troupe/idl`: the IDL model, its parser, printer and compatibility diff, and the request
 * validator generated models build. No TypeScript compiler: extraction lives in
 * `troupe/codegen`. Generated `*.model.ts` files import from here.
 */
export { type Change, type ChangeLevel, diffIdl, formatChanges, hasBreaking } from '../idl/diff.js';
export { IdlModelError, IdlParseError, UnknownMethodError } from '../idl/errors.js';
export type * from '../idl/model.js';
export { parseIdl } from '../idl/parser.js';
export { printIdl } from '../idl/printer.js';
export type { i8, i16, i32, int, u8, u16, u32 } from '../idl/types.js';
export { createValidator, type RequestValidator } from '../idl/validate.js';
