/**
 * Server-side request validation against the IDL model. The RPC server calls the validator
 * for every incoming request before the method runs, so ill-typed input from any client
 * (not only typed stubs) becomes a {@link BadRequestError} naming the parameter and the path
 * inside it, and never reaches user code.
 */
import { BadRequestError } from '../runtime/errors.js';
import { checkModel } from './check.js';
import { IdlModelError, UnknownMethodError } from './errors.js';
import type {
  IdlFile,
  IntegerType,
  Literal,
  MethodDecl,
  PrimitiveType,
  StructDecl,
  TypeDecl,
  TypeRef,
  UnionDecl,
} from './model.js';
import { literalToString, typeToString } from './model.js';

/**
 * Checks one request. Returns the arguments to call the method with (defaults filled in for
 * omitted ones); throws {@link UnknownMethodError} or {@link BadRequestError}.
 */
export type RequestValidator = (method: string, args: unknown) => unknown[];

/**
 * The property under which a validator made by {@link createValidator} carries the name of the
 * service it checks, so a replica given another service's validator (`validateStaleRequest` for
 * a `@Service('tickets')` class) refuses to start instead of answering every call
 * `UNKNOWN_METHOD` from the wrong model. A hand-written validator has none and is not checked.
 */
export const VALIDATOR_SERVICE: unique symbol = Symbol.for('troupe.validator.service');

/** The service `validate` checks requests of, when {@link createValidator} made it. */
export function validatorService(validate: RequestValidator): string | undefined {
  const s = (validate as { [VALIDATOR_SERVICE]?: unknown })[VALIDATOR_SERVICE];
  return typeof s === 'string' ? s : undefined;
}

const INT_RANGES: Record<IntegerType, [number, number]> = {
  i8: [-128, 127],
  i16: [-32768, 32767],
  i32: [-2147483648, 2147483647],
  u8: [0, 255],
  u16: [0, 65535],
  u32: [0, 4294967295],
  int: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** A value did not match; `path` is relative to the parameter. */
class Mismatch {
  constructor(
    readonly path: string,
    readonly message: string,
  ) {}
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Date) return 'timestamp';
  if (typeof v === 'number') return `number ${v}`;
  if (typeof v === 'string') return 'string';
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** {@link describe}, with the value itself for the scalars a literal type could have wanted. */
function describeValue(v: unknown): string {
  if (typeof v === 'string') return v.length <= 40 ? JSON.stringify(v) : 'a longer string';
  if (typeof v === 'boolean') return String(v);
  if (v === undefined) return 'nothing';
  return describe(v);
}

/** A tagged union's discriminant field, and which struct each of its values selects. */
interface Discriminant {
  field: string;
  byValue: Map<Literal, string>;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const member = (path: string, key: string) =>
  IDENT.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;

const MAX_DEPTH = 1_000;

/** Checks values against the types of one model. */
class TypeChecker {
  private readonly decls = new Map<string, TypeDecl>();
  /**
   * During one {@link run}: (object, struct or union name) → its verdict (`null`: matches). A
   * union of structs whose fields recurse through the union would otherwise check one nested
   * object once per member tried at every level above it, 2^depth times; with the memo each
   * object is checked at most once per declared type, linear in the size of the value.
   */
  private memo = new Map<object, Map<string, Mismatch | null>>();
  /** Union name → its discriminant (`null`: it has none), found once per union. */
  private readonly discriminants = new Map<string, Discriminant | null>();
  /** Named types entered and not yet left: bounds the recursion (the decoders bound it far
   * lower; this keeps a value built in process from overflowing the stack). */
  private depth = 0;

  constructor(model: IdlFile) {
    for (const d of model.types) this.decls.set(d.name, d);
  }

  /** {@link check} of one top-level value, with a fresh memo. */
  run(t: TypeRef, v: unknown): void {
    try {
      this.check(t, v, '');
    } finally {
      // Map#clear allocates a fresh table even when empty: most values (scalars) memo nothing.
      if (this.memo.size > 0) this.memo.clear();
      this.depth = 0;
    }
  }

  check(t: TypeRef, v: unknown, path: string): void {
    switch (t.kind) {
      case 'optional':
        if (v !== null && v !== undefined) this.check(t.of, v, path);
        return;
      case 'array':
        if (!Array.isArray(v)) throw new Mismatch(path, `expected ${typeToString(t)}, got ${describe(v)}`);
        v.forEach((x, i) => {
          this.check(t.of, x, `${path}[${i}]`);
        });
        return;
      case 'map':
        if (!isPlainObject(v)) throw new Mismatch(path, `expected ${typeToString(t)}, got ${describe(v)}`);
        for (const [k, x] of Object.entries(v)) this.check(t.value, x, member(path, k));
        return;
      case 'prim':
        if (!this.prim(t.name, v)) throw new Mismatch(path, `expected ${t.name}, got ${describe(v)}`);
        return;
      case 'ref':
        this.named(t.name, v, path);
        return;
      case 'literal':
        if (v !== t.value)
          throw new Mismatch(path, `expected ${literalToString(t.value)}, got ${describeValue(v)}`);
        return;
      case 'oneOf':
        if (!t.values.includes(v as Literal))
          throw new Mismatch(path, `expected ${typeToString(t)}, got ${describeValue(v)}`);
        return;
    }
  }

  /**
   * The field that tells a union's structs apart, when there is one: present and of a literal
   * type in every member, with a different literal in each. With it the validator checks only
   * the member the value names, so a bad field deep inside a circle is reported at its own
   * path instead of as "not a Shape".
   */
  private discriminant(d: UnionDecl): Discriminant | undefined {
    if (this.discriminants.has(d.name)) return this.discriminants.get(d.name) ?? undefined;
    let found: Discriminant | undefined;
    const structs = d.members.map((m) => (m.kind === 'ref' ? this.decls.get(m.name) : undefined));
    if (structs.length > 0 && structs.every((s) => s?.kind === 'struct')) {
      const [first, ...rest] = structs as StructDecl[];
      for (const f of first!.fields) {
        const byValue = new Map<Literal, string>();
        for (const s of [first!, ...rest]) {
          const g = s.fields.find((x) => x.name === f.name);
          if (!g || g.optional || g.type.kind !== 'literal' || byValue.has(g.type.value)) break;
          byValue.set(g.type.value, s.name);
        }
        if (byValue.size === structs.length) {
          found = { field: f.name, byValue };
          break;
        }
      }
    }
    this.discriminants.set(d.name, found ?? null);
    return found;
  }

  private prim(name: PrimitiveType, v: unknown): boolean {
    switch (name) {
      case 'any':
        return true;
      case 'bool':
        return typeof v === 'boolean';
      case 'f64':
        return typeof v === 'number';
      case 'string':
        return typeof v === 'string';
      case 'bytes':
        return v instanceof Uint8Array;
      case 'bigint':
        return typeof v === 'bigint';
      case 'timestamp':
        return v instanceof Date && !Number.isNaN(v.getTime());
      default: {
        const [lo, hi] = INT_RANGES[name];
        return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
      }
    }
  }

  private named(name: string, v: unknown, path: string): void {
    if (typeof v !== 'object' || v === null) {
      this.namedOnce(name, v, path);
      return;
    }
    const verdict = this.memo.get(v)?.get(name);
    if (verdict === null) return;
    if (verdict !== undefined) throw verdict;
    if (this.depth >= MAX_DEPTH) throw new Mismatch(path, `value nested deeper than ${MAX_DEPTH} levels`);
    this.depth++;
    try {
      this.namedOnce(name, v, path);
    } catch (e) {
      if (!(e instanceof Mismatch)) throw e;
      this.remember(v, name, e);
      throw e;
    } finally {
      this.depth--;
    }
    this.remember(v, name, null);
  }

  private remember(v: object, name: string, verdict: Mismatch | null): void {
    const seen = this.memo.get(v);
    if (seen) seen.set(name, verdict);
    else this.memo.set(v, new Map([[name, verdict]]));
  }

  private namedOnce(name: string, v: unknown, path: string): void {
    const d = this.decls.get(name);
    if (!d) throw new IdlModelError(`model references undeclared type '${name}'`);
    if (d.kind === 'enum') {
      if (!d.members.some((m) => m.value === v)) {
        const allowed = d.members.map((m) => JSON.stringify(m.value)).join(', ');
        throw new Mismatch(path, `expected ${name} (one of ${allowed}), got ${describe(v)}`);
      }
    } else if (d.kind === 'struct') {
      if (!isPlainObject(v)) throw new Mismatch(path, `expected ${name}, got ${describe(v)}`);
      // Unknown fields are ignored, so a newer client that adds an optional field still works.
      for (const f of d.fields) {
        const x = v[f.name];
        if (x === undefined) {
          if (!f.optional)
            throw new Mismatch(member(path, f.name), `missing required field '${f.name}' of ${name}`);
        } else this.check(f.type, x, member(path, f.name));
      }
    } else {
      const disc = this.discriminant(d);
      if (disc && isPlainObject(v)) {
        const tag = v[disc.field];
        const target = disc.byValue.get(tag as Literal);
        if (target === undefined) {
          const allowed = [...disc.byValue.keys()].map(literalToString).join(' | ');
          throw new Mismatch(
            member(path, disc.field),
            `expected ${allowed} (the kind of ${name}), got ${describeValue(tag)}`,
          );
        }
        this.named(target, v, path);
        return;
      }
      for (const m of d.members) {
        if (m.kind === 'literal') {
          if (m.value === v) return;
        } else {
          try {
            this.named(m.name, v, path);
            return;
          } catch (e) {
            if (!(e instanceof Mismatch)) throw e;
          }
        }
      }
      const options = d.members.map((m) => (m.kind === 'ref' ? m.name : JSON.stringify(m.value))).join(' | ');
      throw new Mismatch(path, `expected ${name} (${options}), got ${describe(v)}`);
    }
  }
}

/**
 * Builds the validator for `service` of `model`. The model is checked once, here, so a
 * broken model fails at server start rather than on the first request. Generated code calls it
 * (`validateBankRequest` in `bank.model.ts`); a replica runs it on every request before the
 * method, so a wrong argument type is a typed `BadRequestError`, never a call.
 *
 * @example
 * ```ts
 * const validate = createValidator(parseIdl(fs.readFileSync('bank.troupe.idl', 'utf8')), 'bank');
 * const replica = new Replica(new Bank(), { validate });
 * ```
 */
export function createValidator(model: IdlFile, service: string): RequestValidator {
  checkModel(model);
  const svc = model.services.find((s) => s.name === service);
  if (!svc) throw new IdlModelError(`model of package '${model.package}' has no service '${service}'`);
  const methods = new Map<string, MethodDecl>(svc.methods.map((m) => [m.name, m]));
  const checker = new TypeChecker(model);
  // Built only for an error message: validation runs on every request, at every replica.
  const where = (m: MethodDecl) => `${service}.${m.name}`;

  const validate: RequestValidator = (methodName, args) => {
    const m = methods.get(methodName);
    if (!m) throw new UnknownMethodError(service, methodName);
    if (!Array.isArray(args)) throw new BadRequestError(`${where(m)}: arguments must be an array`, m.name);
    if (args.length > m.params.length) {
      throw new BadRequestError(
        `${where(m)}: expected at most ${m.params.length} argument(s), got ${args.length}`,
        m.name,
      );
    }
    const out = [...args];
    for (let i = 0; i < m.params.length; i++) {
      const p = m.params[i]!;
      const v = out[i];
      // `null` stands for "omitted" on an optional parameter: some encoders turn undefined into nil.
      if (v === undefined || (v === null && p.optional && p.type.kind !== 'optional')) {
        if (!p.optional) {
          throw new BadRequestError(`${where(m)}: missing required argument '${p.name}'`, m.name, p.name);
        }
        if (p.default !== undefined) out[i] = p.default;
        else if (i < out.length) out[i] = undefined;
        continue;
      }
      try {
        checker.run(p.type, v);
      } catch (e) {
        if (!(e instanceof Mismatch)) throw e;
        // A client's omitted argument arrives as nil (undefined is encoded so): say it is missing,
        // not "expected f64, got null".
        if (v === null && !e.path)
          throw new BadRequestError(
            `${where(m)}: missing required argument '${p.name}' (got null)`,
            m.name,
            p.name,
          );
        const at = e.path ? ` at '${e.path}'` : '';
        throw new BadRequestError(
          `${where(m)}: argument '${p.name}'${at}: ${e.message}`,
          m.name,
          p.name,
          e.path || undefined,
        );
      }
    }
    return out;
  };
  Object.defineProperty(validate, VALIDATOR_SERVICE, { value: service });
  return validate;
}
