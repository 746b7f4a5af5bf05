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
export type i16 = number;
export type i32 = number;
export type u8 = number;
export type u16 = number;
export type u32 = number;
/** Any safe integer (±2^53 − 1). */
export type int = number;
