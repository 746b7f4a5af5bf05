/**
 * Integer type names for service signatures. TypeScript has one `number`; writing `i32`
 * instead tells codegen to declare an integer in the IDL, which the server-side validator
 * then range-checks. At compile time they are plain `number`s.
 *
 * @example
 * ```ts
 * import type { u32 } from 'troupe/idl/types.js';
 * @Query() page(offset: u32): Item[] { ... }
 * ```
 */
export type i8 = number;
/** A signed 16-bit integer (−32,768 to 32,767); see {@link i8}. */
export type i16 = number;
/** A signed 32-bit integer; see {@link i8}. */
export type i32 = number;
/** An unsigned 8-bit integer (0 to 255); see {@link i8}. */
export type u8 = number;
/** An unsigned 16-bit integer (0 to 65,535); see {@link i8}. */
export type u16 = number;
/** An unsigned 32-bit integer; see {@link i8}. */
export type u32 = number;
/** Any safe integer (±2^53 − 1). */
export type int = number;
