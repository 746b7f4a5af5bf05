/**
 * Decorators that mark a class as a replicated service and its methods as remotely callable.
 *
 * Each decorator only records which methods are remote and how they run; codegen reads the
 * same decorators syntactically (with ts-morph), and the runtime takes parameter types from
 * the generated model, never from reflection. They work both as TC39 decorators (TypeScript
 * 5+ and esbuild/tsx without `experimentalDecorators`) and as legacy decorators (with it), so
 * no compiler flag is needed; each call tells the two apart by its arguments.
 */
import type { IdlFile, MethodDecl } from '../../idl/model.js';
import type { ReplyMode } from './api.js';
import { RpcConfigError } from './errors.js';
import type { CallQos } from './qos.js';
// The Metadata Reflection API (reflect-metadata): troupe publishes what its decorators record
// there too, so DI containers and tools that read `Reflect.getMetadata` (NestJS, tsyringe,
// inversify) see a class's troupe service without knowing troupe's own symbols.
import 'reflect-metadata';

/** Options shared by every method decorator; each is the method's default, overridable per call. */
export interface MethodOptions {
  /** Default reply mode for callers. */
  reply?: ReplyMode;
  /** Default deadline for the whole call, in milliseconds. */
  timeoutMs?: number;
  /**
   * Resilience of the request's totally ordered cast (see {@link CallQos}): `majority`
   * (default), `none`, `k=N` or `safe`. Checked when the replica starts.
   */
  qos?: CallQos;
}

/** Options of {@link Query}. */
export interface QueryOptions extends MethodOptions {
  /** `ordered`: the read is totally ordered with updates instead of answered locally. */
  consistency?: 'ordered';
}

/** Options of {@link Service}. */
export interface ServiceOptions {
  /** Contract version written into the IDL. */
  version?: number;
}

/** How a method is executed by the group. */
export type MethodKind = 'ordered' | 'query' | 'handler';

/** Metadata recorded for one decorated method. */
export interface MethodMeta {
  name: string;
  kind: MethodKind;
  /** Lock name, for `handler` methods. */
  lock?: string;
  options: QueryOptions;
}

/** Metadata recorded for a `@Service` class. */
export interface ServiceMeta {
  name: string;
  options: ServiceOptions;
  methods: MethodMeta[];
}

/**
 * The `Reflect.getMetadata` key under which a `@Service` class publishes its {@link ServiceMeta}
 * (service name, options and methods).
 *
 * @example
 * ```ts
 * const meta = Reflect.getMetadata(TROUPE_SERVICE_METADATA, Bank) as ServiceMeta; // { name: 'bank', … }
 * ```
 */
export const TROUPE_SERVICE_METADATA = 'troupe:service';

/** Where the metadata lives on a decorated class: a symbol-keyed own property (read by troupe). */
const SERVICE_KEY = Symbol.for('troupe:service');
const METHODS_KEY = Symbol.for('troupe:methods');

type Ctor = abstract new (...args: never[]) => unknown;
type Fn = (...args: never[]) => unknown;

/**
 * A decorator usable either way: legacy calls it as `(prototype, key, descriptor)`, TC39 as
 * `(method, context)`. TypeScript type-checks whichever form the project compiles.
 */
export interface TroupeMethodDecorator {
  (target: object, key: string | symbol, descriptor?: PropertyDescriptor): void;
  (value: Fn, context: ClassMethodDecoratorContext): void;
}

/** A class decorator usable as legacy `(ctor)` or TC39 `(ctor, context)`. */
export interface TroupeClassDecorator {
  (target: Ctor): void;
  (value: Ctor, context: ClassDecoratorContext): void;
}

/**
 * TC39 method decorators run before their class exists and see only the function; they record
 * it here, and the class's methods are found among its prototype's own functions.
 */
const decoratedFns = new WeakMap<object, MethodMeta>();

function isTc39Context(x: unknown): x is { kind: string; name: string | symbol; static?: boolean } {
  return typeof x === 'object' && x !== null && 'kind' in x && 'name' in x;
}

/** The methods decorated in `ctor`'s own body (legacy: recorded on it; TC39: its prototype's functions). */
function ownMethods(ctor: Ctor): MethodMeta[] {
  const legacy = Object.hasOwn(ctor, METHODS_KEY)
    ? (ctor as unknown as Record<symbol, MethodMeta[]>)[METHODS_KEY]!
    : [];
  const tc39: MethodMeta[] = [];
  const proto = ctor.prototype as object | undefined;
  if (proto) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const value = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
      const meta = typeof value === 'function' ? decoratedFns.get(value) : undefined;
      if (meta && meta.name === key && !legacy.some((m) => m.name === key)) tc39.push(meta);
    }
  }
  return [...legacy, ...tc39];
}

/**
 * The decorated methods an instance of `ctor` runs: its own, then those it inherits from base
 * classes (nearest first). A method a subclass redeclares is the subclass's: decorated there or
 * not remote at all. Codegen walks base classes the same way (codegen/extract.ts).
 */
function allMethods(ctor: Ctor): MethodMeta[] {
  const out: MethodMeta[] = [];
  const proto = ctor.prototype as Record<string, unknown>;
  for (
    let c: Ctor | null = ctor;
    c && c !== Function.prototype;
    c = Object.getPrototypeOf(c) as Ctor | null
  ) {
    const level = c.prototype as object | undefined;
    if (!level) break;
    for (const m of ownMethods(c)) {
      if (out.some((o) => o.name === m.name)) continue;
      // Redeclared (and not decorated) further down: the instance runs that one.
      if (Object.getOwnPropertyDescriptor(level, m.name)?.value !== proto[m.name]) continue;
      out.push(m);
    }
  }
  return out;
}

function defineHidden(ctor: Ctor, key: symbol, value: unknown): void {
  Object.defineProperty(ctor, key, { value, configurable: true, enumerable: false, writable: true });
}

function methodDecorator(make: (name: string) => MethodMeta): TroupeMethodDecorator {
  return ((target: object, keyOrContext: unknown, descriptor?: PropertyDescriptor) => {
    if (isTc39Context(keyOrContext)) {
      if (keyOrContext.kind !== 'method' || keyOrContext.static) {
        throw new RpcConfigError(
          `troupe method decorators go on instance methods, not on ${String(keyOrContext.name)}`,
        );
      }
      decoratedFns.set(target, make(String(keyOrContext.name)));
      return;
    }
    // Legacy form: a static method gets the class itself as target (its "constructor" is
    // Function, where the method was recorded for no class), a property or accessor no method.
    const d = descriptor ?? Object.getOwnPropertyDescriptor(target, keyOrContext as PropertyKey);
    if (typeof target === 'function' || typeof d?.value !== 'function')
      throw new RpcConfigError(
        `troupe method decorators go on instance methods, not on ${String(keyOrContext)}`,
      );
    const ctor = (target as { constructor: Ctor }).constructor;
    const own = Object.hasOwn(ctor, METHODS_KEY)
      ? (ctor as unknown as Record<symbol, MethodMeta[]>)[METHODS_KEY]!
      : [];
    defineHidden(ctor, METHODS_KEY, [...own, make(String(keyOrContext))]);
  }) as TroupeMethodDecorator;
}

/**
 * Marks a class as the implementation of service `name`. `troupe gen` reads the decorated
 * methods (and those of base classes) into the service's IDL, typed client stub and request
 * validator; a replica serves only what that model declares.
 *
 * @example
 * ```ts
 * @Service('counter', { version: 2 })
 * export class Counter {
 *   private n = 0;
 *   @Ordered() add(by: i32): number { return (this.n += by); }   // every replica, in order
 *   @Query() get(): number { return this.n; }                     // one replica answers
 *   @Handler('report') async report(): Promise<string> { return publish(this.n); } // the lock's holder
 * }
 * ```
 */
export function Service(name: string, options: ServiceOptions = {}): TroupeClassDecorator {
  return ((ctor: Ctor) => {
    defineHidden(ctor, SERVICE_KEY, { name, options });
    const meta: ServiceMeta = { name, options, methods: allMethods(ctor) };
    Reflect.defineMetadata(TROUPE_SERVICE_METADATA, meta, ctor);
  }) as TroupeClassDecorator;
}

/**
 * A totally ordered update: every replica runs it in the same order, so replicas stay identical.
 * Its result comes from the first member to answer (`reply: 'first'`, the default), from every
 * member (`all`) or a majority; a caller may pick another mode per call.
 *
 * @example
 * ```ts
 * @Ordered({ timeoutMs: 5_000 })
 * deposit(account: string, amount: u32): number {
 *   this.balances.set(account, (this.balances.get(account) ?? 0) + amount);
 *   return this.balances.get(account)!;
 * }
 * ```
 */
export function Ordered(options: MethodOptions = {}): TroupeMethodDecorator {
  return methodDecorator((name) => ({ name, kind: 'ordered', options }));
}

/**
 * A read answered by one replica from its state now (or ordered with the updates, with
 * `consistency: 'ordered'`, to read what every earlier update wrote). A query must not change
 * the state.
 *
 * @example
 * ```ts
 * @Query() balance(account: string): number { return this.balances.get(account) ?? 0; }
 * @Query({ consistency: 'ordered' }) audit(): number { return this.total; }
 * ```
 */
export function Query(options: QueryOptions = {}): TroupeMethodDecorator {
  return methodDecorator((name) => ({ name, kind: 'query', options }));
}

/**
 * A method run under the named lock: the call is ordered like an update, but only the lock's
 * holder (a member that called `replica.acquire(lock)`) runs it and answers, and every replica
 * records its result. For work with effects outside the group that must happen once (a
 * payment, an e-mail); it runs at one member, so it must not change replicated state.
 *
 * @example
 * ```ts
 * @Handler('mailer')
 * async notify(account: string): Promise<void> {
 *   await sendMail(account, 'statement ready'); // one member sends, whichever holds 'mailer'
 * }
 * ```
 */
export function Handler(lock: string, options: MethodOptions = {}): TroupeMethodDecorator {
  return methodDecorator((name) => ({ name, kind: 'handler', lock, options }));
}

/** Reads the metadata the decorators recorded on `ctor`, or `undefined` if it is not a service. */
export function getServiceMeta(ctor: Ctor): ServiceMeta | undefined {
  if (!Object.hasOwn(ctor, SERVICE_KEY)) return undefined;
  const service = (ctor as unknown as Record<symbol, { name: string; options: ServiceOptions }>)[
    SERVICE_KEY
  ]!;
  return { ...service, methods: allMethods(ctor) };
}

/**
 * Checks that `ctor`'s decorators describe the service of the generated `model`: the same
 * service name, every model method decorated with the same kind (and lock), and no decorated
 * method the model lacks. A mismatch means the generated files are stale.
 *
 * @throws {RpcConfigError} one error listing every difference and naming the fix.
 */
export function checkServiceModel(ctor: Ctor, model: IdlFile): ServiceMeta {
  const meta = getServiceMeta(ctor);
  const cls = ctor.name || 'the class';
  if (!meta) {
    throw new RpcConfigError(
      `${cls} has no @Service decorator (import Service from 'troupe' and put @Service('name') on the class)`,
    );
  }
  const svc = model.services.find((s) => s.name === meta.name);
  if (!svc) {
    const names = model.services.map((s) => `'${s.name}'`).join(', ');
    throw new RpcConfigError(
      `${cls} is @Service('${meta.name}') but the generated model describes ${names}: run 'troupe gen' again`,
    );
  }
  const problems: string[] = [];
  const decorated = new Map(meta.methods.map((m) => [m.name, m]));
  for (const m of svc.methods) {
    const d = decorated.get(m.name);
    if (!d) problems.push(`${m.name} is in the model but not decorated`);
    else if (d.kind !== m.kind)
      problems.push(`${m.name} is @${kindName(d.kind)} here but ${m.kind} in the model`);
    else if (d.kind === 'handler' && d.lock !== m.lock) {
      problems.push(`${m.name} holds lock '${d.lock}' here but '${m.lock}' in the model`);
    } else {
      const arity = arityProblem(ctor, m);
      if (arity) problems.push(arity);
    }
  }
  for (const d of meta.methods) {
    if (svc.methods.some((m) => m.name === d.name)) continue;
    const owner = declaringClass(ctor, d.name);
    problems.push(
      owner && owner !== ctor
        ? `${d.name} (inherited from ${owner.name}) is decorated but not in the model (codegen cannot see decorators of a base class compiled elsewhere, e.g. from a package's .d.ts: declare the method on ${cls} if so)`
        : `${d.name} is decorated but not in the model`,
    );
  }
  if (problems.length > 0) {
    throw new RpcConfigError(
      `service '${meta.name}' (${cls}) disagrees with its generated model: ${problems.join('; ')}. Run 'troupe gen' again and rebuild`,
    );
  }
  return meta;
}

/**
 * A parameter list that grew since the model was generated (`bump(n)` became
 * `bump(n, label: string)`): a function's `length` counts its parameters up to the first one
 * with a default, so it never exceeds the number the model declares while the model is
 * current (codegen refuses rest parameters). Only that direction is checked: a smaller
 * `length` is normal (defaults; a wrapping decorator's `(...args)`).
 */
function arityProblem(ctor: Ctor, m: MethodDecl): string | undefined {
  const fn = (ctor.prototype as Record<string, unknown>)[m.name];
  if (typeof fn !== 'function' || fn.length <= m.params.length) return undefined;
  const names = m.params.map((p) => p.name).join(', ');
  const declared = m.params.length === 0 ? 'none' : `${m.params.length} (${names})`;
  return `${m.name} takes ${fn.length} parameter${fn.length === 1 ? '' : 's'} here but the model declares ${declared}`;
}

/** The class whose prototype declares `name` for instances of `ctor`. */
function declaringClass(ctor: Ctor, name: string): Ctor | undefined {
  for (let p = ctor.prototype as object | null; p; p = Object.getPrototypeOf(p) as object | null) {
    if (Object.hasOwn(p, name)) return (p as { constructor: Ctor }).constructor;
  }
  return undefined;
}

function kindName(k: MethodKind): string {
  return k === 'ordered' ? 'Ordered' : k === 'query' ? 'Query' : 'Handler';
}
