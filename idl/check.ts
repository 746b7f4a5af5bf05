/**
 * Consistency checks a model must pass beyond syntax: names resolve, nothing is declared
 * twice, one-way methods return nothing. The parser runs them with token positions so
 * errors point into the file; codegen runs them on extracted models without positions.
 */
import { IdlModelError, IdlParseError } from './errors.js';
import {
  type Field,
  type IdlFile,
  type Literal,
  literalToString,
  PRIMITIVE_TYPES,
  type TypeDecl,
  type TypeRef,
  typeToString,
} from './model.js';

/** Names people write from habit (TypeScript, other IDLs), with the IDL type they mean. */
const TS_NAMES: Record<string, string> = {
  number: 'f64',
  float: 'f64',
  double: 'f64',
  f32: 'f64',
  boolean: 'bool',
  Date: 'timestamp',
  Uint8Array: 'bytes',
  i64: 'bigint',
  u64: 'bigint',
  long: 'bigint',
  integer: 'int',
  str: 'string',
  Record: 'map<string, V>',
  Map: 'map<string, V>',
};

/** A position in the file being checked. */
export interface Pos {
  line: number;
  column: number;
}

/** Source positions of model nodes (a method's `throws` array maps to one position per name). */
export type Positions = WeakMap<object, Pos | Pos[]>;

/** Throws {@link IdlParseError} (with positions) or {@link IdlModelError} (without) on the first problem. */
export function checkModel(model: IdlFile, file = '<model>', positions: Positions = new WeakMap()): void {
  const fail = (node: object, message: string, hint?: string, index?: number): never => {
    const at = positions.get(node);
    const pos = Array.isArray(at) ? at[index ?? 0] : at;
    if (pos) throw new IdlParseError(message, file, pos.line, pos.column, hint);
    throw new IdlModelError(`${file}: ${message}${hint ? ` (hint: ${hint})` : ''}`);
  };

  const types = new Map<string, TypeDecl>();
  const errors = new Set<string>();
  for (const d of [...model.types, ...model.errors]) {
    if ((PRIMITIVE_TYPES as readonly string[]).includes(d.name) || d.name === 'map') {
      fail(d, `'${d.name}' is a built-in type name`, 'choose another name');
    }
    if (types.has(d.name) || errors.has(d.name)) fail(d, `'${d.name}' is declared twice`);
    if ('kind' in d) types.set(d.name, d);
    else errors.add(d.name);
  }

  const closest = (name: string): string | undefined => {
    const alias = TS_NAMES[name];
    if (alias) return alias;
    let best: { name: string; d: number } | undefined;
    for (const k of [...PRIMITIVE_TYPES, ...types.keys()]) {
      const d = editDistance(k.toLowerCase(), name.toLowerCase());
      if (d <= 2 && (!best || d < best.d)) best = { name: k, d };
    }
    return best?.name;
  };

  const checkType = (t: TypeRef): void => {
    if (t.kind === 'array' || t.kind === 'optional') checkType(t.of);
    else if (t.kind === 'map') checkType(t.value);
    else if (t.kind === 'oneOf') {
      const seen = new Set<Literal>();
      for (const v of t.values) {
        if (seen.has(v)) fail(t, `${literalToString(v)} is listed twice in ${typeToString(t)}`);
        seen.add(v);
      }
      if (seen.size < 2) fail(t, 'a union of literals needs at least two values', 'write the literal alone');
    } else if (t.kind === 'ref' && !types.has(t.name)) {
      const near = closest(t.name);
      fail(
        t,
        `unknown type '${t.name}'`,
        near ? `did you mean '${near}'?` : errors.has(t.name) ? 'errors are not types' : undefined,
      );
    }
  };

  const checkFields = (owner: string, fields: Field[]): void => {
    const seen = new Set<string>();
    for (const f of fields) {
      if (seen.has(f.name)) fail(f, `field '${f.name}' is declared twice in '${owner}'`);
      seen.add(f.name);
      checkType(f.type);
    }
  };

  for (const d of model.types) {
    if (d.kind === 'struct') checkFields(d.name, d.fields);
    else if (d.kind === 'enum') {
      const names = new Set<string>();
      const values = new Set<string | number>();
      for (const m of d.members) {
        if (names.has(m.name)) fail(m, `enum member '${m.name}' is declared twice`);
        if (values.has(m.value))
          fail(m, `enum value ${JSON.stringify(m.value)} is used twice in '${d.name}'`);
        names.add(m.name);
        values.add(m.value);
      }
    } else {
      const seen = new Set<string>();
      for (const m of d.members) {
        const key = m.kind === 'ref' ? m.name : JSON.stringify(m.value);
        if (seen.has(key)) fail(m, `union member ${key} is listed twice`);
        seen.add(key);
        if (m.kind === 'ref' && types.get(m.name)?.kind !== 'struct') {
          fail(
            m,
            `union member '${m.name}' must be a struct`,
            types.has(m.name) ? undefined : `unknown type '${m.name}'`,
          );
        }
      }
    }
  }
  for (const e of model.errors) checkFields(e.name, e.fields);

  const services = new Set<string>();
  for (const s of model.services) {
    if (services.has(s.name)) fail(s, `service '${s.name}' is declared twice`);
    services.add(s.name);
    const methods = new Set<string>();
    for (const m of s.methods) {
      if (methods.has(m.name)) fail(m, `method '${m.name}' is declared twice in service '${s.name}'`);
      methods.add(m.name);
      const params = new Set<string>();
      let sawOptional = false;
      for (const p of m.params) {
        if (params.has(p.name)) fail(p, `parameter '${p.name}' is declared twice in '${m.name}'`);
        params.add(p.name);
        if (!p.optional && sawOptional) {
          fail(
            p,
            `required parameter '${p.name}' follows an optional one`,
            'arguments are positional; move it earlier',
          );
        }
        sawOptional ||= p.optional;
        checkType(p.type);
      }
      if (m.returns) checkType(m.returns);
      if (m.options.reply === 'none' && m.returns) {
        fail(
          m,
          `one-way method '${m.name}' cannot return a value`,
          'remove the `->` type or the one-way reply mode',
        );
      }
      if ((m.kind === 'handler') !== (m.lock !== undefined))
        fail(m, `only handler methods have a lock ('${m.name}')`);
      m.throws.forEach((name, i) => {
        if (!errors.has(name))
          fail(m.throws, `'${name}' is not a declared error`, 'declare it with `error Name { ... }`', i);
      });
    }
  }
}

/** Levenshtein distance, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
