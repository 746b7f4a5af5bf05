/**
 * The service the RPC simulation replicates: one register with non-commutative operations
 * (add, multiply, a take that can fail), so a different order or a repeated request leaves a
 * different state. `audit` is a `@Handler`: only the lock holder runs it.
 */
import { UnknownMethodError } from '../../idl/errors.js';
import { BadRequestError } from '../../runtime/errors.js';
import { currentCall } from '../../runtime/rpc/context.js';
import { Handler, Ordered, Query, Service } from '../../runtime/rpc/decorators.js';

export const MODULUS = 1_000_003;

/**
 * Every ordered method is applied once a majority holds the request. With the default `none`, a
 * contact that crashes right after replying may have applied the request at a place in the order
 * the survivors never agree on, so its reply is not the agreed one (true-replies fails: e.g.
 * `--rpc --seed 24 --members 3..5 --timeout 400` with `none`); that is the documented price of
 * `none`, not a bug.
 */
const QOS = 'majority';

/**
 * The method the register runs for a request (per instance, so per replica incarnation); called
 * again with `ended` when an `audit` that waited is over (handler runs of one lock must not overlap).
 */
export type RunHook = (requestId: string, method: string, ended?: boolean) => void;

/** Called when the register's state is replaced by a transferred one (a new history starts). */
export type RestoreHook = () => void;

/** What `append` awaits at a replica: a timer in the simulator's virtual time. */
export type Wait = (ms: number) => Promise<void>;

/** A take asked for more than the register holds (an application error, recorded like a value). */
export class Insufficient extends Error {
  constructor(
    readonly value: number,
    readonly requested: number,
  ) {
    super(`register holds ${value}, cannot take ${requested}`);
    this.name = 'Insufficient';
  }
}

export interface RegisterState {
  value: number;
  ops: number;
}

@Service('register')
export class Register {
  value = 1;
  /** Ordered operations applied (successful or not). */
  ops = 0;

  constructor(
    private readonly onRun?: RunHook,
    private readonly wait?: Wait,
    private readonly onRestore?: RestoreHook,
    /** When given, `audit` waits (30..210 ms) before it answers: a handler run that spans faults and lock moves. */
    private readonly auditWait?: Wait,
  ) {}

  private ran(method: string): void {
    if (this.onRun) this.onRun(currentCall().requestId, method);
  }

  @Ordered({ qos: QOS })
  add(x: number): number {
    this.ran('add');
    this.ops++;
    this.value = (this.value + x) % MODULUS;
    return this.value;
  }

  @Ordered({ qos: QOS })
  mul(x: number): number {
    this.ran('mul');
    this.ops++;
    this.value = (this.value * x) % MODULUS;
    return this.value;
  }

  @Ordered({ qos: QOS })
  take(x: number): number {
    this.ran('take');
    this.ops++;
    if (this.value < x) throw new Insufficient(this.value, x);
    this.value -= x;
    return this.value;
  }

  /**
   * An async ordered method whose await spans faults: it reads the state, waits (20..260 ms of
   * virtual time, long enough for a crash, a pause or a partition and rejoin to happen
   * meanwhile), then writes what it read back into the result. A continuation that outlives
   * its replica's history (it resumes into a restored or re-founded state) leaves a state no
   * sequential run gives.
   */
  @Ordered({ qos: QOS })
  async append(x: number): Promise<number> {
    this.ran('append');
    const seen = this.ops;
    if (this.wait) await this.wait(20 + (x % 7) * 40);
    return this.appendAfter(x, seen);
  }

  /** `append`'s write, once its wait is over (the model calls it directly: no await there). */
  appendAfter(x: number, seen: number): number {
    this.ops++;
    this.value = (this.value * 7 + x + (seen % 1000)) % MODULUS;
    return this.value;
  }

  /** Unordered: answered from the contact's state. */
  @Query()
  peek(): number {
    return this.value;
  }

  /** Run only by the holder of the `audit` lock; reads, never changes, the state. */
  @Handler('audit', { qos: QOS })
  audit(): number | Promise<number> {
    this.ran('audit');
    const read = () => this.value * 1000 + (this.ops % 1000);
    if (!this.auditWait) return read();
    const { requestId } = currentCall();
    return this.auditWait(30 + (this.ops % 7) * 30).then(() => {
      this.onRun?.(requestId, 'audit', true);
      return read();
    });
  }

  snapshot(): RegisterState {
    return { value: this.value, ops: this.ops };
  }

  restore(s: RegisterState): void {
    this.value = s.value;
    this.ops = s.ops;
    this.onRestore?.();
  }
}

const ARITY: Record<string, number> = { add: 1, mul: 1, take: 1, append: 1, peek: 0, audit: 0 };

/** The hand-written request validator (what codegen generates for a real service). */
export function validateRegisterRequest(method: string, args: unknown): unknown[] {
  const n = ARITY[method];
  if (n === undefined) throw new UnknownMethodError('register', method);
  if (!Array.isArray(args) || args.length !== n)
    throw new BadRequestError(`register.${method} takes ${n} arguments`, method);
  for (const [i, a] of args.entries())
    if (typeof a !== 'number' || !Number.isSafeInteger(a) || a < 0 || a > 1_000_000)
      throw new BadRequestError(
        `register.${method}: argument ${i} must be an integer in 0..1e6`,
        method,
        'x',
      );
  return args;
}
