/**
 * Decorators that mark a class as a replicated service and its methods as remotely callable.
 *
 * Minimal version written for the codegen work: each decorator only records metadata with
 * `reflect-metadata`. Codegen reads the decorators syntactically (by name, with ts-morph), so
 * the recorded metadata is for the runtime, which takes parameter types from the generated
 * model rather than from `design:paramtypes` (tsx/esbuild/vite do not emit it).
 */
import 'reflect-metadata';
import type { ReplyMode } from './api.js';
import type { CallQos } from './qos.js';

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

const SERVICE_KEY = Symbol.for('troupe:service');
const METHODS_KEY = Symbol.for('troupe:methods');

type Ctor = abstract new (...args: never[]) => unknown;

function recordMethod(target: object, meta: MethodMeta): void {
  const ctor = (target as { constructor: Ctor }).constructor;
  const existing = (Reflect.getOwnMetadata(METHODS_KEY, ctor) as MethodMeta[] | undefined) ?? [];
  Reflect.defineMetadata(METHODS_KEY, [...existing, meta], ctor);
}

/** Marks a class as the implementation of service `name`. */
export function Service(name: string, options: ServiceOptions = {}): ClassDecorator {
  return (ctor) => {
    Reflect.defineMetadata(SERVICE_KEY, { name, options }, ctor);
  };
}

/** A totally ordered update: every replica runs it in the same order. */
export function Ordered(options: MethodOptions = {}): MethodDecorator {
  return (target, key) => recordMethod(target, { name: String(key), kind: 'ordered', options });
}

/** A read answered by one replica (or ordered, with `consistency: 'ordered'`). */
export function Query(options: QueryOptions = {}): MethodDecorator {
  return (target, key) => recordMethod(target, { name: String(key), kind: 'query', options });
}

/** A method run under the named lock instead of the total order. */
export function Handler(lock: string, options: MethodOptions = {}): MethodDecorator {
  return (target, key) => recordMethod(target, { name: String(key), kind: 'handler', lock, options });
}

/** Reads the metadata the decorators recorded on `ctor`, or `undefined` if it is not a service. */
export function getServiceMeta(ctor: Ctor): ServiceMeta | undefined {
  const service = Reflect.getOwnMetadata(SERVICE_KEY, ctor) as
    | { name: string; options: ServiceOptions }
    | undefined;
  if (!service) return undefined;
  const methods = (Reflect.getOwnMetadata(METHODS_KEY, ctor) as MethodMeta[] | undefined) ?? [];
  return { ...service, methods };
}
