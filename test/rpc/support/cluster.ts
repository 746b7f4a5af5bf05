/**
 * Test fixtures: a small service using every method kind, its hand-written IDL model, and a
 * cluster of replicas on the fake group with clients on the fake network.
 */
import type { IdlFile, MethodDecl, Param, TypeRef } from '../../../idl/model.js';
import { createValidator } from '../../../idl/validate.js';
import { steadyNow } from '../../../runtime/clock.js';
import { TroupeError } from '../../../runtime/errors.js';
import { addressCookie } from '../../../runtime/rpc/address-proof.js';
import { type ConnectOptions, connect, type TroupeClient } from '../../../runtime/rpc/client.js';
import { currentCall } from '../../../runtime/rpc/context.js';
import { Handler, Ordered, Query, Service } from '../../../runtime/rpc/decorators.js';
import {
  type ClientHead,
  type ClientPacket,
  COOKIE_PERIOD_MS,
  decodeClientPacket,
  encodeClientPacket,
} from '../../../runtime/rpc/protocol.js';
import { Replica, type ReplicaOptions } from '../../../runtime/rpc/replica.js';
import { groupIdOf } from '../../../runtime/wire/packet.js';
import { FakeGroup, type FakeMember, FakeNet } from './fake-group.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Client options for a test about noticing a failed or silent contact: 150 ms without a word. */
export const QUICK_DETECTION = { contactTimeoutMs: 150 } as const;

export class LedgerError extends TroupeError {
  constructor(readonly reason: string) {
    super('LEDGER_REFUSED', `ledger refused: ${reason}`);
  }
}

export interface Stamp {
  requestId: string;
  now: number;
  random: number;
  viewId: number;
  members: string[];
}

/**
 * Every `report` run in this process, by every replica: when it began and ended (a run still
 * going ends at infinity). Handler runs of one lock must never overlap.
 */
export const reportSpans: { start: number; end: number }[] = [];

/** A replicated append-only log. `runs` counts local executions (not replicated). */
@Service('ledger')
export class Ledger {
  entries: string[] = [];
  runs = 0;
  /** `slowAppend` runs whose sleep has ended (a stale one included): what a test waits for. */
  slowDone = 0;
  reportRuns = 0;
  /** Multiplies `slowAppend`'s sleep here (not replicated): one replica slower than the others. */
  slowFactor = 1;

  @Ordered()
  append(entry: string): number {
    this.runs++;
    this.entries.push(entry);
    return this.entries.length;
  }

  @Ordered()
  async slowAppend(entry: string, ms: number): Promise<number> {
    this.runs++;
    await sleep(ms * this.slowFactor);
    this.slowDone++;
    this.entries.push(entry);
    return this.entries.length;
  }

  @Ordered()
  refuse(reason: string): number {
    this.runs++;
    throw new LedgerError(reason);
  }

  @Ordered()
  explode(): number {
    this.runs++;
    throw new Error('boom');
  }

  @Ordered()
  stamp(): Stamp {
    const c = currentCall();
    return {
      requestId: c.requestId,
      now: c.now,
      random: c.random(),
      viewId: c.view.id,
      members: [...c.view.members],
    };
  }

  @Query()
  size(): number {
    return this.entries.length;
  }

  @Query({ consistency: 'ordered' })
  orderedSize(): number {
    return this.entries.length;
  }

  @Handler('reports')
  async report(ms: number): Promise<string> {
    this.reportRuns++;
    const span = { start: performance.now(), end: Number.POSITIVE_INFINITY };
    reportSpans.push(span);
    await sleep(ms);
    span.end = performance.now();
    return `${currentCall().self}:${this.entries.length}`;
  }

  snapshot(): string[] {
    return [...this.entries];
  }

  restore(s: string[]): void {
    this.entries = [...s];
  }
}

const STRING: TypeRef = { kind: 'prim', name: 'string' };
const F64: TypeRef = { kind: 'prim', name: 'f64' };
const p = (name: string, type: TypeRef): Param => ({ name, type, optional: false });
export const m = (
  name: string,
  kind: MethodDecl['kind'],
  params: Param[],
  extra: Partial<MethodDecl> = {},
): MethodDecl => ({
  name,
  kind,
  params,
  returns: { kind: 'prim', name: 'any' },
  throws: [],
  options: { reply: 'first' },
  ...extra,
});

export const ledgerModel: IdlFile = {
  package: 'ledger',
  version: 1,
  types: [],
  errors: [],
  services: [
    {
      name: 'ledger',
      methods: [
        m('append', 'ordered', [p('entry', STRING)]),
        m('slowAppend', 'ordered', [p('entry', STRING), p('ms', F64)]),
        m('refuse', 'ordered', [p('reason', STRING)]),
        m('explode', 'ordered', []),
        m('stamp', 'ordered', []),
        m('size', 'query', []),
        m('orderedSize', 'query', [], { options: { reply: 'first', consistency: 'ordered' } }),
        m('report', 'handler', [p('ms', F64)], { lock: 'reports' }),
      ],
    },
  ],
};

export const validateLedger = createValidator(ledgerModel, 'ledger');

export interface Node<T extends object> {
  member: FakeMember;
  replica: Replica<T>;
  instance: T;
}

/** The cookie secret of every replica of {@link Cluster.of} (unless its options give another). */
export const CLUSTER_COOKIE_SECRET = new TextEncoder().encode('cluster cookie secret');

/**
 * The header a hand-made keyless client packet from `from` carries to a replica of
 * {@link Cluster.of} whose clock reads `now`: the replicas' cookie for that address, as a real
 * client has it from a view.
 */
export function cookieHead(from: string, now = steadyNow()): { cookie: Uint8Array } {
  return { cookie: addressCookie(CLUSTER_COOKIE_SECRET, from, Math.floor(now / COOKIE_PERIOD_MS)) };
}

/**
 * A hand-made client at `from` on cluster `c`'s network (a forger, or a careful tool): it keeps
 * what it receives, and counts the bytes it sends and gets.
 */
export function rawClient(c: Cluster<object>, from = '10.6.6.6:6') {
  const gid = groupIdOf(c.group.name);
  const ep = { node: 0x0606, inc: 6 };
  const got: Uint8Array[] = [];
  c.net.listen(from, (bytes) => got.push(bytes));
  let sent = 0;
  const sendRaw = (to: string, bytes: Uint8Array) => {
    sent += bytes.length;
    c.net.route(from, to, bytes);
  };
  const send = (to: string, p: ClientPacket, head?: ClientHead) => {
    const bytes = encodeClientPacket(p, gid, ep, undefined, undefined, head);
    sendRaw(to, bytes);
    return bytes.length;
  };
  const kinds = () => got.map((b) => decodeClientPacket(b, gid).packet.kind);
  const received = () => got.reduce((n, b) => n + b.length, 0);
  return { gid, send, sendRaw, got, kinds, received, sent: () => sent, from };
}

/** Replicas of one service on a fake group, and clients on the same fake network. */
export class Cluster<T extends object = Ledger> {
  readonly net = new FakeNet();
  readonly group: FakeGroup;
  readonly nodes: Node<T>[] = [];
  private clients: TroupeClient[] = [];
  private nextClient = 1;

  constructor(
    private readonly make: () => T,
    private readonly options: ReplicaOptions,
    name = 'ledger',
  ) {
    this.group = new FakeGroup(this.net, name);
  }

  static async of(n: number, options: Partial<ReplicaOptions> = {}): Promise<Cluster<Ledger>> {
    const c = new Cluster(() => new Ledger(), {
      validate: validateLedger,
      cookieSecret: CLUSTER_COOKIE_SECRET,
      ...options,
    });
    for (let i = 0; i < n; i++) c.add();
    await c.settle();
    return c;
  }

  /** Adds a replica (a joiner receives the state at its join point). */
  add(): Node<T> {
    const instance = this.make();
    const replica = new Replica(instance, this.options);
    const member = this.group.join({ state: replica });
    replica.attach(member);
    const node = { member, replica, instance };
    this.nodes.push(node);
    return node;
  }

  get live(): Node<T>[] {
    return this.nodes.filter((n) => n.member.alive);
  }

  async client(opts: Partial<ConnectOptions> = {}): Promise<TroupeClient> {
    const c = await connect({
      group: this.group.name,
      seeds: [this.live[0]!.member.address],
      transport: this.net.transport(`192.168.0.${this.nextClient++}:5000`),
      retransmitMs: 20,
      heartbeatMs: 20,
      // The client and every replica share one event loop here: on a loaded machine a stall of
      // a few hundred ms made a 150 ms contact look failed (FailoverError) and ran 3 s deadlines
      // out. A test about noticing a failed or silent contact passes {@link QUICK_DETECTION};
      // one about deadlines passes its own timeoutMs.
      contactTimeoutMs: 2_000,
      timeoutMs: 10_000,
      // The in-memory replicas here are built without a key (the keyed path: test/group/auth-udp.test.ts).
      insecure: true,
      ...opts,
    });
    this.clients.push(c);
    return c;
  }

  /** Waits until the network is quiet and every live replica applied everything delivered. */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await this.net.settle();
      await Promise.all(this.live.map((n) => n.replica.idle()));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }
}
