/**
 * The application state of a service that defines no `snapshot()`/`restore()`: its own fields.
 * A joining replica must start from the state the others have reached, or it answers from an
 * empty one and diverges (a new user's README service did exactly that, silently). So troupe
 * copies the instance's own enumerable fields, as data: primitives, `undefined`, `bigint`,
 * arrays, plain objects, `Map`, `Set`, `Date`, `Uint8Array` and `Buffer`, nested freely.
 *
 * Anything it cannot copy faithfully is refused with the field's path, never copied wrong: an
 * instance of another class (its prototype, hence its methods, would be lost), a function below
 * the top level, a symbol, other typed arrays, and a value reached twice (a shared reference
 * would become two copies at the joiner, so a change through one would no longer show through
 * the other, at that replica only). Functions held directly in fields (`onX = () => ...`) are
 * behaviour, not state: skipped. ES private fields (`#x`) are invisible to any reflection and
 * are not copied: a service keeping state there defines its own `snapshot()`/`restore()`.
 *
 * @example
 * ```ts
 * class Kv { private data = new Map<string, string>(); ... }   // no snapshot()/restore()
 * const state = fieldsState(kv);
 * other.restore(state.snapshot());   // `other.data` is a Map with the same entries
 * ```
 */
import { RpcConfigError } from './errors.js';
import type { AppState } from './replica.js';

/** Tags of the copied tree: every value but a string, number, boolean or null is `[tag, ...]`. */
const T = {
  array: 0,
  object: 1,
  map: 2,
  set: 3,
  date: 4,
  bytes: 5,
  bigint: 6,
  undefined: 7,
  nullProto: 8,
  buffer: 9,
} as const;

/** A field the copy refuses, with its path (`Kv.data.get("a")[2]`). */
export class FieldStateError extends RpcConfigError {}

function refuse(path: string, what: string): never {
  throw new FieldStateError(
    `${path} holds ${what}, which troupe cannot copy to a joining replica: define snapshot() and ` +
      'restore() on the service (docs/rpc.md, "State transfer")',
  );
}

function describe(v: object): string {
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name ? `a ${name}` : 'an object of another kind';
}

function encode(v: unknown, path: string, seen: Set<object>): unknown {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return [T.bigint, v.toString()];
    case 'undefined':
      return [T.undefined];
    case 'object':
      if (v === null) return null;
      break;
    default:
      refuse(path, `a ${typeof v}`);
  }
  const o = v as object;
  if (seen.has(o)) refuse(path, 'a value reached twice (a shared or cyclic reference)');
  seen.add(o);
  const proto = Object.getPrototypeOf(o);
  if (Object.getOwnPropertySymbols(o).length > 0 && proto !== Array.prototype) refuse(path, 'symbol keys');
  if (proto === Array.prototype) {
    const a = o as unknown[];
    const out: unknown[] = [T.array];
    for (let i = 0; i < a.length; i++) out.push(encode(a[i], `${path}[${i}]`, seen));
    return out;
  }
  if (proto === Map.prototype) {
    const out: unknown[] = [T.map];
    for (const [k, x] of o as Map<unknown, unknown>) {
      const at = `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : String(k)})`;
      out.push(encode(k, `${at} (key)`, seen), encode(x, at, seen));
    }
    return out;
  }
  if (proto === Set.prototype) {
    const out: unknown[] = [T.set];
    let i = 0;
    for (const x of o as Set<unknown>) out.push(encode(x, `${path} (element ${i++})`, seen));
    return out;
  }
  if (proto === Date.prototype) return [T.date, (o as Date).getTime()];
  // Copied: a snapshot is also an async method's pre-image, which the method must not change.
  if (proto === Uint8Array.prototype) return [T.bytes, (o as Uint8Array).slice()];
  if (proto === Buffer.prototype) return [T.buffer, Uint8Array.prototype.slice.call(o as Buffer)];
  if (proto !== Object.prototype && proto !== null) refuse(path, describe(o));
  const out: unknown[] = [proto === null ? T.nullProto : T.object];
  for (const k of Object.keys(o))
    out.push(k, encode((o as Record<string, unknown>)[k], `${path}.${k}`, seen));
  return out;
}

function malformed(what: string): never {
  throw new TypeError(`fields snapshot: ${what}`);
}

function decode(v: unknown): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (!Array.isArray(v) || v.length === 0) malformed('a value is neither data nor a tagged list');
  const tag = v[0];
  switch (tag) {
    case T.array:
      return v.slice(1).map(decode);
    case T.object:
    case T.nullProto: {
      if (v.length % 2 === 0) malformed('an object has a key without a value');
      const o: Record<string, unknown> = tag === T.nullProto ? Object.create(null) : {};
      for (let i = 1; i < v.length; i += 2) {
        const k = v[i];
        if (typeof k !== 'string') malformed('an object key is not a string');
        // A data property even for `__proto__`: never a prototype change.
        Object.defineProperty(o, k, {
          value: decode(v[i + 1]),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      return o;
    }
    case T.map: {
      if (v.length % 2 === 0) malformed('a map has a key without a value');
      const m = new Map<unknown, unknown>();
      for (let i = 1; i < v.length; i += 2) m.set(decode(v[i]), decode(v[i + 1]));
      return m;
    }
    case T.set:
      return new Set(v.slice(1).map(decode));
    case T.date:
      if (typeof v[1] !== 'number') malformed('a date has no time');
      return new Date(v[1]);
    case T.bytes:
    case T.buffer: {
      const b = v[1];
      if (!(b instanceof Uint8Array)) malformed('bytes are not bytes');
      return tag === T.buffer ? Buffer.from(b) : new Uint8Array(b);
    }
    case T.bigint:
      if (typeof v[1] !== 'string' || !/^-?\d+$/.test(v[1])) malformed('a bigint is not an integer');
      return BigInt(v[1]);
    case T.undefined:
      return undefined;
    default:
      return malformed(`unknown tag ${String(tag)}`);
  }
}

/** The fields of `instance` that are state: own, enumerable, not functions. */
function stateKeys(instance: object): string[] {
  return Object.keys(instance).filter((k) => typeof (instance as Record<string, unknown>)[k] !== 'function');
}

/**
 * The default `AppState` of a service instance without `snapshot()`/`restore()` (see the module
 * comment). Checks the instance's fields once now, so a service whose state cannot be copied is
 * refused when its replica is made, not when the first replica joins.
 * @throws FieldStateError naming the first field that cannot be copied
 */
export function fieldsState(instance: object): AppState {
  const name = (instance.constructor as { name?: string } | undefined)?.name || 'service';
  const snapshot = (): unknown => {
    const seen = new Set<object>();
    return stateKeys(instance).map((k) => [
      k,
      encode((instance as Record<string, unknown>)[k], `${name}.${k}`, seen),
    ]);
  };
  snapshot();
  return {
    snapshot,
    restore: (state) => {
      if (!Array.isArray(state)) malformed('not a list of fields');
      const fields = new Map<string, unknown>();
      for (const f of state) {
        if (!Array.isArray(f) || f.length !== 2 || typeof f[0] !== 'string')
          malformed('a field is not [name, value]');
        // A field may not shadow a method (or `__proto__`): only data the class does not define.
        if (f[0] === '__proto__' || f[0] in Object.getPrototypeOf(instance))
          malformed(`field ${f[0]} names a method or accessor of the class`);
        fields.set(f[0], decode(f[1]));
      }
      const target = instance as Record<string, unknown>;
      for (const k of stateKeys(instance)) if (!fields.has(k)) delete target[k];
      for (const [k, x] of fields) target[k] = x;
    },
  };
}
