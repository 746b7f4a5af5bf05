/**
 * The IDL model: a plain, JSON-able description of a service contract. The parser produces
 * it, the printer renders it, codegen emits it as a `const`, and the server-side validator
 * checks requests against it, so all four agree by construction.
 *
 * Absent optional fields are omitted (never `undefined`), so models compare with deep equality.
 */

/** Reply modes a method may declare as its default (mirrors `runtime/rpc/api.ts`). */
export type ReplyMode = 'first' | 'all' | 'majority' | 'none';

/** Integer types, carried as JS numbers; the name gives the range the validator enforces. */
export const INTEGER_TYPES = ['i8', 'i16', 'i32', 'u8', 'u16', 'u32', 'int'] as const;
/** One of {@link INTEGER_TYPES}. */
export type IntegerType = (typeof INTEGER_TYPES)[number];

/** Every built-in scalar type name. `any` only appears when extraction was told to allow it. */
export const PRIMITIVE_TYPES = [
  'bool',
  ...INTEGER_TYPES,
  'f64',
  'string',
  'bytes',
  'bigint',
  'timestamp',
  'any',
] as const;
/** One of {@link PRIMITIVE_TYPES}. */
export type PrimitiveType = (typeof PRIMITIVE_TYPES)[number];

/** A type expression. */
export type TypeRef =
  | { kind: 'prim'; name: PrimitiveType }
  | { kind: 'array'; of: TypeRef }
  /** Keys are always strings (a TS `Record<string, V>`), so every encoding agrees on them. */
  | { kind: 'map'; value: TypeRef }
  /** The value may be absent (`null` or `undefined`). */
  | { kind: 'optional'; of: TypeRef }
  /** A named struct, enum or union declared in the same file. */
  | { kind: 'ref'; name: string }
  /**
   * Exactly this value, as TypeScript's literal types: the discriminant of a tagged union
   * (`kind: "circle"`), which lets the validator pick the member and name the path inside it.
   */
  | { kind: 'literal'; value: Literal }
  /**
   * One of these values (`"cm" | "mm"`): an anonymous union of literals, as TypeScript writes
   * `unit: 'cm' | 'mm'` inline. At least two distinct values; a named one is a `union` decl.
   */
  | { kind: 'oneOf'; values: Literal[] };

/** A literal: parameter defaults, union members and literal types. */
export type Literal = string | number | boolean;

/** Renders a literal as the IDL writes it (strings as JSON). */
export function literalToString(v: Literal): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** A field of a struct or error. */
export interface Field {
  name: string;
  type: TypeRef;
  /** The field may be missing from the object. */
  optional: boolean;
  doc?: string;
}

/** A named record type (`struct Name { field: type; ... }`), from a TypeScript interface or type literal. */
export interface StructDecl {
  kind: 'struct';
  name: string;
  fields: Field[];
  doc?: string;
}

/** One member of an {@link EnumDecl}. */
export interface EnumMember {
  name: string;
  value: string | number;
  doc?: string;
}

/** A named enum (`enum Name { A = "a", ... }`), from a TypeScript enum. */
export interface EnumDecl {
  kind: 'enum';
  name: string;
  /** All members share one value type, as TS string enums or numeric enums do. */
  valueType: 'string' | 'number';
  members: EnumMember[];
  doc?: string;
}

/** One member of a {@link UnionDecl}: a named struct or a literal. */
export type UnionMember = { kind: 'ref'; name: string } | { kind: 'literal'; value: Literal };

/** A union of named structs, or of literals. */
export interface UnionDecl {
  kind: 'union';
  name: string;
  members: UnionMember[];
  doc?: string;
}

/** A named type declared in an IDL file. */
export type TypeDecl = StructDecl | EnumDecl | UnionDecl;

/** An error a method declares it may throw. */
export interface ErrorDecl {
  name: string;
  fields: Field[];
  doc?: string;
}

/** A method parameter. */
export interface Param {
  name: string;
  type: TypeRef;
  /** The caller may omit it (a `?` parameter, or one with a default). */
  optional: boolean;
  /** Filled in by the validator when the argument is missing. */
  default?: Literal;
  doc?: string;
}

/**
 * How a method runs: `ordered` (a totally ordered update applied by every member), `query` (a
 * read answered by one member), `handler` (run by the holder of the method's lock only).
 */
export type MethodKind = 'ordered' | 'query' | 'handler';

/** A method's declared options: its default reply mode, consistency, timeout and resilience. */
export interface MethodOptions {
  /** Default reply mode; `none` makes the method one-way. */
  reply: ReplyMode;
  /** Queries only: order the read with updates. */
  consistency?: 'ordered';
  timeoutMs?: number;
  /** Resilience of the request's totally ordered cast: `none`, `k=N`, `majority` or `safe`. */
  qos?: CallQos;
}

/** See {@link MethodOptions.qos}; the runtime maps it to the group QoS (runtime/rpc/qos.ts). */
export type CallQos = 'none' | 'majority' | 'safe' | `k=${number}`;

/** Whether `s` is a {@link CallQos}: `k` runs from 1 to 999. */
export function isCallQos(s: string): s is CallQos {
  return s === 'none' || s === 'majority' || s === 'safe' || /^k=[1-9]\d{0,2}$/.test(s);
}

/** A method of a service: its kind, parameters, result, declared errors and options. */
export interface MethodDecl {
  name: string;
  kind: MethodKind;
  /** Handler methods only: the lock they run under. */
  lock?: string;
  params: Param[];
  /** Omitted for `void`. */
  returns?: TypeRef;
  /** Names of declared errors, in declaration order. */
  throws: string[];
  options: MethodOptions;
  doc?: string;
}

/** A service: a named set of methods, the unit a replica serves and a stub calls. */
export interface ServiceDecl {
  name: string;
  methods: MethodDecl[];
  doc?: string;
}

/** One `.troupe.idl` file. */
export interface IdlFile {
  package: string;
  version: number;
  types: TypeDecl[];
  errors: ErrorDecl[];
  services: ServiceDecl[];
  doc?: string;
}

/** Renders a type the way the IDL writes it, for messages. */
export function typeToString(t: TypeRef): string {
  switch (t.kind) {
    case 'prim':
      return t.name;
    case 'ref':
      return t.name;
    case 'array':
      return `${suffixed(t.of)}[]`;
    case 'optional':
      return `${suffixed(t.of)}?`;
    case 'map':
      return `map<string, ${typeToString(t.value)}>`;
    case 'literal':
      return literalToString(t.value);
    case 'oneOf':
      return t.values.map(literalToString).join(' | ');
  }
}

/** `t` as the operand of a `[]` or `?` suffix: a union in parentheses, which bind tighter. */
function suffixed(t: TypeRef): string {
  return t.kind === 'oneOf' ? `(${typeToString(t)})` : typeToString(t);
}

/** Structural equality of two type expressions (named types compare by name). */
export function sameType(a: TypeRef, b: TypeRef): boolean {
  return typeToString(canonical(a)) === typeToString(canonical(b));
}

/** `t` with every union of literals sorted: the order a union is written in does not change it. */
function canonical(t: TypeRef): TypeRef {
  switch (t.kind) {
    case 'array':
    case 'optional':
      return { kind: t.kind, of: canonical(t.of) };
    case 'map':
      return { kind: 'map', value: canonical(t.value) };
    case 'oneOf':
      return {
        kind: 'oneOf',
        values: [...t.values].sort((x, y) => (literalToString(x) < literalToString(y) ? -1 : 1)),
      };
    default:
      return t;
  }
}

/**
 * Canonical form of a doc comment: trailing spaces and surrounding blank lines removed,
 * `undefined` when empty. Parser and extraction both use it, so round trips are exact.
 */
export function normalizeDoc(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd());
  while (lines.length > 0 && lines[0] === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.length > 0 ? lines.join('\n') : undefined;
}
