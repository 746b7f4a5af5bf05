/**
 * From a decorated service instance to a result: finds the method, validates the arguments
 * with the generated validator (before user code runs), runs the method in its call context,
 * and turns a return value or a throw into a {@link Result}. Never throws.
 */
import { UnknownMethodError } from '../../idl/errors.js';
import { type RequestValidator, validatorService } from '../../idl/validate.js';
import type { QoS } from '../stack/types.js';
import { decodeValue, encodable, encodeValue } from './codec.js';
import { type CallContext, runInCall } from './context.js';
import { getServiceMeta, type MethodKind } from './decorators.js';
import { RpcConfigError, toWireError, UnknownServiceError } from './errors.js';
import { castQos } from './qos.js';
import type { Result } from './result.js';

export interface MethodEntry {
  name: string;
  kind: MethodKind;
  /** Goes through the total order: `@Ordered`, `@Handler` and `@Query({ consistency: 'ordered' })`. */
  ordered: boolean;
  lock?: string;
  /** The QoS its requests are cast with (ordered methods). */
  qos: QoS;
  /** The QoS of a request only its contact answers (`first`/`none`, no handler lock): the
   * replicas' deliveries other than the contact's are awaited by nobody (QoS `awaited`). */
  contactQos: QoS;
  /** Declared `async`: the replica keeps a pre-image of the state while it runs (state transfer). */
  async: boolean;
  fn: (...args: unknown[]) => unknown;
}

export type Resolved = { ok: true; entry: MethodEntry; args: unknown[] } | { ok: false; result: Result };

export class Dispatcher {
  readonly service: string;
  private readonly methods = new Map<string, MethodEntry>();

  constructor(
    private readonly instance: object,
    private readonly validate: RequestValidator,
  ) {
    const ctor = instance.constructor as abstract new (...args: never[]) => unknown;
    const meta = getServiceMeta(ctor);
    if (!meta) throw new RpcConfigError(`${ctor.name || 'the instance'} is not decorated with @Service`);
    this.service = meta.name;
    for (const m of meta.methods) {
      const fn = (instance as Record<string, unknown>)[m.name];
      if (typeof fn !== 'function') throw new RpcConfigError(`${meta.name}.${m.name} is not a method`);
      const qos = castQos(m.options.qos, `${meta.name}.${m.name}`);
      this.methods.set(m.name, {
        name: m.name,
        kind: m.kind,
        ordered: m.kind !== 'query' || m.options.consistency === 'ordered',
        lock: m.lock,
        qos,
        // A handler call is answered by the lock's holder, whichever member it is.
        contactQos: m.lock === undefined ? Object.freeze({ ...qos, awaited: 'sender' as const }) : qos,
        async: fn.constructor.name === 'AsyncFunction',
        fn: fn as (...args: unknown[]) => unknown,
      });
    }
    const checks = validatorService(validate);
    if (checks !== undefined && checks !== meta.name)
      throw new RpcConfigError(
        `${ctor.name || 'the instance'} serves '${meta.name}', but its validator checks the requests of service '${checks}': pass the validator generated for '${meta.name}' (in its ${meta.name}.model file)`,
      );
  }

  entry(method: string): MethodEntry | undefined {
    return this.methods.get(method);
  }

  /** Checks service, method and arguments: the arguments the method will be called with, or the error. */
  resolve(service: string, method: string, args: Uint8Array): Resolved {
    try {
      if (service !== this.service) throw new UnknownServiceError(service, this.service);
      const entry = this.methods.get(method);
      if (!entry) throw new UnknownMethodError(service, method);
      const decoded = decodeValue(args);
      const checked = this.validate(method, decoded);
      return { ok: true, entry, args: checked };
    } catch (e) {
      return { ok: false, result: failure(e) };
    }
  }

  /** Runs the method; synchronous when the method is. */
  run(entry: MethodEntry, args: unknown[], ctx: CallContext): Result | Promise<Result> {
    let out: unknown;
    try {
      out = runInCall(ctx, () => entry.fn.apply(this.instance, args));
    } catch (e) {
      return failure(e);
    }
    if (isThenable(out)) return Promise.resolve(out).then(success, failure);
    return success(out);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function success(value: unknown): Result {
  try {
    return { ok: true, value: encodeValue(value) };
  } catch (e) {
    return failure(e);
  }
}

export function failure(e: unknown): Result {
  return { ok: false, error: toWireError(e, encodable) };
}
