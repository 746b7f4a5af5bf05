/**
 * RPC mode of the simulator: every member incarnation runs a real {@link Replica} of the
 * {@link Register} service over its `MemberCore` (through a `GroupHandle` adapter), and
 * non-member clients run the real {@link TroupeClient} over the same faulty network, with a
 * virtual clock and virtual timers. Client applications call, and on `FailoverError` or
 * `TimeoutError` ask `outcome` and reissue under the same request id.
 *
 * Promises (client calls, outcome loops, handler runs) settle in microtasks, so the event
 * loop here is async: after any event that touched a replica or a client, it lets every
 * pending microtask run ({@link drained}) before the next event. Nothing else is real time
 * or real I/O, so a seed still replays byte for byte.
 */
import type { AppEvent } from '../../runtime/group/core.js';
import type { Delivery, GroupEvents, GroupHandle, ViewChange } from '../../runtime/group/types.js';
import type { ReplyMode } from '../../runtime/rpc/api.js';
import { type ClientOutcome, type ClientTimers, TroupeClient } from '../../runtime/rpc/client.js';
import { decodeValue } from '../../runtime/rpc/codec.js';
import { currentCall } from '../../runtime/rpc/context.js';
import { FailoverError, NoMajorityError, TimeoutError } from '../../runtime/rpc/errors.js';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { Replica, type ReplicaOptions } from '../../runtime/rpc/replica.js';
import type { MemberId } from '../../runtime/stack/member.js';
import { seededRandom } from '../../runtime/stack/random.js';
import type { QoS } from '../../runtime/stack/types.js';
import type { Transport } from '../../runtime/transport/types.js';
import type { AuthKey } from '../../runtime/wire/auth.js';
import { decodePacket, encodePacket, Flags, groupIdOf } from '../../runtime/wire/packet.js';
import { Register, validateRegisterRequest } from './rpc-service.js';
import type { Incarnation, NodeApp, NodeHandle, ScenarioConfig } from './world.js';
import { viewKey, World } from './world.js';

export interface RpcOptions {
  clients: number;
  /** Concurrent call sequences per client. */
  lanes: number;
  callsPerLane: number;
  /** Per-call deadline (client `timeoutMs`). */
  callTimeoutMs: number;
  /** Invoke plus reissues of one call, at most. */
  maxAttempts: number;
  /** Share of calls to the `audit` handler. */
  handlerShare: number;
  /** Replica `recastMs`. */
  recastMs: number;
  /** Builds each incarnation's replica; a mutant replaces it. */
  makeReplica: (instance: Register, options: ReplicaOptions) => Replica<Register>;
  /** Share of calls to the async `append` (its await spans faults). Default 0. */
  asyncShare: number;
  /** Share of calls made with reply mode `all` or `majority` (half each). Default 0. */
  replyShare: number;
  /** `mixed`: client c0 connects with `autoReissue`, the others without. Default `off`. */
  autoReissue: 'off' | 'mixed';
  /**
   * Members acquire and release the `audit` lock now and then, and `audit` waits before it
   * answers, so the lock moves while its holder runs calls of it. Default false.
   */
  lockMoves: boolean;
  /**
   * The group key of the client path (replicas and clients sign and verify client packets with
   * it; the member stack stays keyless): test/sim/forge-client.ts's keyed runs. Default none.
   */
  key?: AuthKey;
}

export const DEFAULT_RPC_OPTIONS: RpcOptions = {
  clients: 2,
  lanes: 2,
  callsPerLane: 12,
  callTimeoutMs: 1_500,
  maxAttempts: 12,
  handlerShare: 0.15,
  recastMs: 400,
  makeReplica: (instance, options) => new Replica(instance, options),
  asyncShare: 0,
  replyShare: 0,
  autoReissue: 'off',
  lockMoves: false,
};

/** One run of the `audit` handler: where, and from when to when (`end` infinite: never ended). */
export interface HandlerSpan {
  /** A handler's run of call `id`, or a hold: from `acquire()` resolving to `release()`. */
  kind: 'run' | 'hold';
  id: string;
  member: MemberId;
  start: number;
  end: number;
}

/** What one replica incarnation was handed, in order: its deliveries (casts) and views. */
export type LogItem =
  | {
      t: 'view';
      key: string;
      id: number;
      members: readonly MemberId[];
      at: number;
      /**
       * The replica's snapshot (`Replica.snapshot()`) when its incarnation took its first view
       * in: the state it starts that history from, with the backlog it will still apply first
       * (a re-founding's start state: an async request still running, requests of the old
       * history queued). Absent for later views, or if the replica refused to take a snapshot.
       */
      start?: Uint8Array;
    }
  | {
      t: 'msg';
      viewId: number;
      gseq: number | undefined;
      sender: MemberId;
      payload: Uint8Array;
      at: number;
      /** The delivering member's history (`GroupHandle.history`) when it was handed the cast. */
      history?: number | undefined;
    };

export interface RpcIncarnation {
  rec: Incarnation;
  register: Register;
  replica: Replica<Register>;
  /** Method runs per request id in the replica's current history (a transferred state starts a
   * new one: the requests not in it run again). Shared by the incarnations of a rejoining replica. */
  runs: Map<string, number>;
  /** Each run of a request that already ran in the same history: `id` and the run's count. */
  doubled: { id: string; n: number }[];
  /** Method runs per request id at this replica over all its histories (never cleared). */
  allRuns: Map<string, number>;
  /**
   * The call context each run saw (`now`, the first `random()`), per request id, in the
   * replica's current history (cleared with `runs`); shared like `runs`. The `same-context`
   * checker compares them across replicas.
   */
  contexts: Map<string, { now: number; random: number }>;
  /** Ordered runs whose `now` was below an earlier run's in the same history (never backwards). */
  backwards: { id: string; now: number; after: number }[];
  log: LogItem[];
}

export interface OutcomeAnswer {
  at: number;
  status: ClientOutcome['status'];
  settled: boolean;
  member: string;
  value?: unknown;
  error?: { code: string; message: string };
}

export interface CallRecord {
  client: string;
  id: string;
  method: string;
  mode: ReplyMode;
  args: number[];
  issuedAt: number;
  /** FailoverError / TimeoutError codes met on the way, with their request ids and times. */
  failures: { code: string; requestId: string; at: number }[];
  outcomes: OutcomeAnswer[];
  /** Errors thrown by `outcome()` itself. */
  outcomeErrors: { name: string; code: string | undefined; requestId: string | undefined; at: number }[];
  reissues: number[];
  /** When the client chose `reissue(id, { rerun: true })` after an `unknown` answer. */
  reruns: number[];
  /** A probe call, made once the faults are over (the RPC `progress` checker). */
  probe?: true;
  final?:
    | { kind: 'value'; value: unknown; via: 'reply' | 'outcome'; at: number }
    | { kind: 'error'; error: Error; via: 'reply' | 'outcome'; at: number };
}

type Listener = (...args: never[]) => void;

/** A `GroupHandle` over a simulated member (`NodeHandle`): what the replica attaches to. */
class SimGroupHandle implements GroupHandle {
  readonly groupName = 'sim';
  node!: NodeHandle;
  private readonly listeners = new Map<string, Set<Listener>>();
  private clientHandler: ((bytes: Uint8Array, from: string) => void) | undefined;

  get self(): MemberId {
    return this.node.self;
  }
  get address(): string {
    return this.node.address;
  }
  get view() {
    return this.node.view;
  }
  get history() {
    return this.node.history;
  }
  get speaking() {
    return this.node.speaking;
  }
  /** Called with each cast's payload, when the member makes it. */
  casting: ((payload: Uint8Array) => void) | undefined;
  cast(payload: Uint8Array, qos: QoS = { order: 'total' }): void {
    this.casting?.(payload);
    this.node.cast(payload, qos);
  }
  send(to: MemberId, payload: Uint8Array): void {
    this.node.send(to, payload);
  }
  on<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener as Listener);
    this.listeners.set(event, set);
  }
  off<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    this.listeners.get(event)?.delete(listener as Listener);
  }
  emit<E extends keyof GroupEvents>(event: E, ...args: Parameters<GroupEvents[E]>): void {
    for (const l of this.listeners.get(event) ?? [])
      (l as (...a: Parameters<GroupEvents[E]>) => void)(...args);
  }
  onClientPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.clientHandler = handler;
  }
  clientPacket(bytes: Uint8Array, from: string): void {
    this.clientHandler?.(bytes, from);
  }
  /** Called after each packet this member sends a client. */
  sent: ((bytes: Uint8Array) => void) | undefined;
  sendRaw(address: string, bytes: Uint8Array): void {
    this.node.sendRaw(address, bytes);
    this.sent?.(bytes);
  }
  leave(): Promise<void> {
    return Promise.resolve();
  }
}

/** A client's transport: the simulated network, from a non-member address. */
class SimTransport implements Transport {
  readonly maxDatagram = 60_000;
  private handler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private readonly counts = { sent: 0, received: 0, dropped: 0 };
  constructor(
    readonly address: string,
    private readonly world: World,
    onReceive: () => void,
    /** Told every packet the client sends. */
    private readonly onSend: (bytes: Uint8Array) => void = () => {},
    /** Runs `fn` now, or when the client's process wakes if it is stopped (the `cnap` fault). */
    awake: (fn: () => void) => void = (fn) => fn(),
  ) {
    world.addEndpoint(address, (bytes, from) =>
      awake(() => {
        this.counts.received++;
        onReceive();
        this.handler?.(bytes, from);
      }),
    );
  }
  multicast(): void {}
  send(to: string, bytes: Uint8Array): void {
    this.counts.sent++;
    this.onSend(bytes);
    this.world.sendFrom(this.address, to, bytes);
  }
  setPeers(): void {}
  onPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.handler = handler;
  }
  stats() {
    return { ...this.counts };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A signed client packet (`RpcOptions.key`, not encrypted) as its unsigned form, for the
 * simulator's own bookkeeping of what was sent (the tag is not checked); others as they are.
 */
function unsigned(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 4 || (bytes[3]! & Flags.Authenticated) === 0) return bytes;
  try {
    const p = decodePacket(bytes);
    return encodePacket({ ...p, flags: 0, tag: new Uint8Array(0) });
  } catch {
    return bytes;
  }
}

const METHODS = ['add', 'mul', 'take'] as const;

/**
 * Resolves once every microtask queued so far, and every one those queue, has run. Node runs
 * the next-tick queue only when V8's microtask queue is empty, and nothing in the simulated
 * code uses `process.nextTick`, so this is `setImmediate`'s drain without an event-loop turn
 * (a quarter of its cost; one per event that touched a replica or a client).
 */
const drained = () => new Promise<void>((r) => process.nextTick(r));

/** How far past `endMs` a run goes on while calls started before it are still in flight. */
const DRAIN_MS = 5_000;
/** Once the last of them ended: time for every replica to apply what it was given (an `append`
 * waits at most 260 ms; the faults are long over). */
const SETTLE_MS = 1_000;
/**
 * Past `DRAIN_MS`, the run goes on while calls still end, each within `PROGRESS_MS` of the last,
 * up to `endMs + MAX_DRAIN_MS`: a backlog that drains is not a wedge. Serial `audit` runs of up
 * to 210 ms each, queued by 72 lanes (`--clients 12 --lanes 6 --locks`) while faults held the
 * lock back, took 10 s to drain and the run ended with two of them still queued (RPC seeds
 * 431100010 and 431100149: calls-end and locks-settle; none 3 s later).
 */
const PROGRESS_MS = 1_000;
const MAX_DRAIN_MS = 20_000;

export class RpcSim {
  readonly world: World;
  readonly incarnations: RpcIncarnation[] = [];
  readonly calls: CallRecord[] = [];
  readonly clients: TroupeClient[] = [];
  /**
   * Virtual time of each cast (by payload, base64), earliest first: a request's `ts` is its
   * contact's wall clock, which the `skew` fault moves away from virtual time.
   */
  readonly castAt = new Map<string, number>();
  /**
   * Per request id, each issue its client sent in a call packet, with when it first did (issues
   * rise): the true-outcomes checker asks which issues were out before a settled `not-found`.
   */
  readonly issuesSent = new Map<string, { issue: number; at: number }[]>();
  /**
   * The history numbers client copies of each request carried (`CallPacket.history`; undefined:
   * none), each with when it was first sent: the `history-tag` rule (test/sim/rpc-scenario.ts).
   */
  readonly tagsSent = new Map<string, { tag: number | undefined; at: number }[]>();
  /** Client address → until when its process is stopped (the `cnap` fault). */
  readonly naps = new Map<string, number>();
  /** Node index → when the last wait an async method (or `audit`) began there ends (`ciso`). */
  readonly asyncUntil = new Map<number, number>();
  /** Per node index, the lock loop's `acquire()` not yet settled: by which incarnation, since
   * when, and in which process (`inc`). */
  readonly acquiring = new Map<number, { member: MemberId; at: number; inc: number }>();
  /** Every `audit` run and `audit` lock hold, in the order they began (with `lockMoves`). */
  readonly handlerSpans: HandlerSpan[] = [];
  /** Something a promise may wait on happened: let microtasks run before the next event. */
  private dirty = false;
  /** Past `endMs`: lanes start no new call (see {@link run}). */
  private ending = false;
  private readonly workload: () => number;
  /** The opt-in workload choices (async calls, reply modes): their own generator, so a seed's
   * workload without them stays what it was. */
  private readonly extras: () => number;
  /** The members' lock moves (`lockMoves`): their own generator too. */
  private readonly lockDraws: () => number;
  /**
   * Called right after a member sends a client a `reply` (at that instant; the packet is on its
   * way): the fault plan uses it to crash a contact just after it answered.
   */
  onReplySent: ((member: MemberId) => void) | undefined;
  /**
   * Every value a member sent a client in a `reply` or `replies` packet, with the view the
   * packet names (the view the request was ordered in): a reply from a lineage that stopped
   * (`expectedUnderLoss`) is told by that view, whatever the member's table holds later. An
   * error result has `error` (its code and message) and an empty `value`. `outcome`: a
   * `committed` or `interrupted` (error `INTERRUPTED outcome`) outcome answer (the blackout rules, test/sim/blackout.ts, ask who answered).
   */
  readonly sentReplies: {
    kind: 'reply' | 'outcome';
    member: MemberId;
    id: string;
    viewId: number;
    members: string[];
    at: number;
    value: string;
    error?: string;
  }[] = [];

  constructor(
    readonly cfg: ScenarioConfig,
    readonly opts: RpcOptions = DEFAULT_RPC_OPTIONS,
  ) {
    this.workload = seededRandom(cfg.seed * 7_919 + 17);
    this.extras = seededRandom(cfg.seed * 104_729 + 3);
    this.lockDraws = seededRandom(cfg.seed * 15_485_863 + 11);
    this.world = new World({ ...cfg, app: (w, index, address) => this.app(w, index, address) });
  }

  /** Processes started at each address (a restart after a crash is a new one). */
  private readonly started = new Map<string, number>();

  /** The cookie secret of the process now at `address` (a forger's own cookie, forge-client.ts). */
  cookieSecretOf(address: string): Uint8Array {
    return new TextEncoder().encode(`sim cookie ${address} ${this.started.get(address) ?? 0}`);
  }

  /** Counts a process started at `address`: how many have been, this one included. */
  private processes(address: string): number {
    const n = (this.started.get(address) ?? 0) + 1;
    this.started.set(address, n);
    return n;
  }

  private app(w: World, index: number, address: string): NodeApp {
    const group = new SimGroupHandle();
    const groupId = groupIdOf('sim');
    group.casting = (payload) => {
      const k = Buffer.from(payload).toString('base64');
      if (!this.castAt.has(k)) this.castAt.set(k, w.now);
    };
    group.sent = (bytes) => {
      try {
        const { packet } = decodeClientPacket(unsigned(bytes), groupId);
        if (packet.kind === 'outcome' && (packet.status === 'committed' || packet.status === 'interrupted'))
          this.sentReplies.push({
            kind: 'outcome',
            member: group.self,
            id: packet.id,
            viewId: packet.viewId,
            members: packet.members,
            at: w.now,
            ...(packet.status === 'interrupted' || !packet.result
              ? { value: '', error: 'INTERRUPTED outcome' }
              : packet.result.ok
                ? { value: JSON.stringify(decodeValue(packet.result.value)) }
                : { value: '', error: `${packet.result.error.code} ${packet.result.error.message}` }),
          });
        if (packet.kind !== 'reply' && packet.kind !== 'replies') return;
        const list = packet.kind === 'reply' ? [packet] : packet.replies;
        for (const r of list)
          this.sentReplies.push({
            kind: 'reply',
            member: group.self,
            id: r.id,
            viewId: packet.viewId,
            members: packet.members,
            at: w.now,
            ...(r.result.ok
              ? { value: JSON.stringify(decodeValue(r.result.value)) }
              : { value: '', error: `${r.result.error.code} ${r.result.error.message}` }),
          });
        this.onReplySent?.(group.self);
      } catch {
        // not a client packet of this group: nothing to do
      }
    };
    const runs = new Map<string, number>();
    const doubled: RpcIncarnation['doubled'] = [];
    const allRuns = new Map<string, number>();
    const contexts: RpcIncarnation['contexts'] = new Map();
    const backwards: RpcIncarnation['backwards'] = [];
    let lastNow = Number.NEGATIVE_INFINITY;
    const register = new Register(
      (id, method, ended) => {
        if (method === 'audit' && this.opts.lockMoves) {
          if (ended) {
            // This member's run (another member's run of the same call may still be open: one
            // that crashed mid-run never ends).
            const span = this.handlerSpans.find(
              (s) => s.id === id && s.member === group.self && s.end === Number.POSITIVE_INFINITY,
            );
            if (span) span.end = w.now;
            return;
          }
          this.handlerSpans.push({
            kind: 'run',
            id,
            member: group.self,
            start: w.now,
            end: Number.POSITIVE_INFINITY,
          });
        }
        allRuns.set(id, (allRuns.get(id) ?? 0) + 1);
        // What the method sees of its call: the same at every replica (docs/rpc.md "Call
        // context"). A handler runs at its holder, apart from the order: only its value counts.
        const call = currentCall();
        if (!contexts.has(id)) contexts.set(id, { now: call.now, random: call.random() });
        if (method !== 'audit') {
          if (call.now < lastNow) backwards.push({ id, now: call.now, after: lastNow });
          lastNow = Math.max(lastNow, call.now);
        }
        const n = (runs.get(id) ?? 0) + 1;
        runs.set(id, n);
        if (n > 1) doubled.push({ id, n });
      },
      (ms) => this.waitOn(index, ms),
      // A transferred state replaces every effect this replica applied: the requests still to
      // come in that history (queued or running at the provider when it took the snapshot) run
      // again here, once each in the new history. `same-state` sees any effect applied twice.
      () => {
        runs.clear();
        contexts.clear();
        lastNow = Number.NEGATIVE_INFINITY;
      },
      this.opts.lockMoves ? (ms) => this.waitOn(index, ms) : undefined,
    );
    const replica = this.opts.makeReplica(register, {
      validate: validateRegisterRequest,
      clock: () => w.wall(address),
      recastMs: this.opts.recastMs,
      // A deterministic cookie secret (a replayed seed gives every client the same cookies), new
      // for each process at the address, as a restarted replica's random one is: its clients'
      // cookies go stale (docs/rpc.md, "Cookies without a key").
      cookieSecret: new TextEncoder().encode(`sim cookie ${address} ${this.processes(address)}`),
      ...(this.opts.key !== undefined ? { key: this.opts.key } : {}),
    });
    let log: LogItem[] = [];
    /** One record per member incarnation; with `rejoin: 'same'` they share the replica. */
    const record = (node: NodeHandle) => {
      const me = node.self;
      log = [];
      // The world records the incarnation right after this call: look it up on use.
      this.incarnations.push({
        get rec() {
          return w.incarnations.find((i) => i.member === me)!;
        },
        register,
        replica,
        runs,
        doubled,
        allRuns,
        contexts,
        backwards,
        log,
      });
    };
    return {
      state: replica,
      start: (node) => {
        group.node = node;
        record(node);
        replica.attach(group);
        this.moveLocks(index, replica, group);
      },
      // The real driver keeps its Group and Replica across a rejoin: only the member id changes.
      rejoined: (node) => {
        group.node = node;
        record(node);
        // The process's lock loop goes on (a second one would nest holds within one member).
      },
      event: (ev: AppEvent) => {
        this.dirty = true;
        switch (ev.type) {
          case 'deliver': {
            const d: Delivery = ev.delivery;
            if (!d.p2p)
              log.push({
                t: 'msg',
                viewId: d.viewId,
                gseq: d.gseq,
                sender: d.sender,
                payload: d.payload,
                at: w.now,
                history: group.history,
              });
            group.emit('deliver', d);
            return;
          }
          case 'view': {
            const v: ViewChange = ev.change;
            const item: Extract<LogItem, { t: 'view' }> = {
              t: 'view',
              key: viewKey(v.view),
              id: v.view.id,
              members: v.view.members,
              at: w.now,
            };
            const firstView = !log.some((i) => i.t === 'view');
            log.push(item);
            group.emit('view', v);
            if (firstView)
              try {
                item.start = replica.snapshot();
              } catch {
                // A replica that stopped (it refused a state): no start state to record.
              }
            return;
          }
          case 'suspect':
            group.emit('suspect', ev.suspicion);
            return;
          case 'block':
            group.emit('block');
            return;
          case 'stable':
            group.emit('stable', { seqs: ev.seqs });
            return;
          case 'partitioned':
            group.emit('partitioned', { viewId: ev.viewId, reason: ev.reason });
            return;
          default:
            return;
        }
      },
      unrecorded: (payload) => {
        if (!this.opts.lockMoves) return false;
        try {
          const kind = decodeGroupMsg(payload).kind;
          return kind === 'acquire' || kind === 'release';
        } catch {
          return false;
        }
      },
      clientPacket: (bytes, from) => {
        this.dirty = true;
        w.log(`${address} client packet from ${from}`);
        group.clientPacket(bytes, from);
      },
    };
  }

  /**
   * Stops client `address`'s process for `ms` (the `cnap` fault): its timers, its application's
   * sleeps and the packets that reach it wait until it wakes (a later nap may extend it).
   */
  napClient(address: string, ms: number): void {
    const w = this.world;
    const until = Math.max(this.naps.get(address) ?? 0, w.now + ms);
    this.naps.set(address, until);
    w.log(`CNAP ${address} stopped until ${until.toFixed(1)}`);
  }

  /** Runs `fn` now if client `address` is awake, else once it wakes. */
  private awake(address: string, fn: () => void): void {
    const w = this.world;
    const until = this.naps.get(address);
    if (until !== undefined && w.now < until) {
      w.at(until, () => this.awake(address, fn));
      return;
    }
    fn();
  }

  private timers(address: string): ClientTimers {
    const w = this.world;
    return {
      now: () => w.wall(address),
      after: (ms, fn) => {
        const h = { cancelled: false };
        w.at(w.now + ms, () =>
          this.awake(address, () => {
            if (h.cancelled) return;
            this.dirty = true;
            fn();
          }),
        );
        return h;
      },
      clear: (h) => {
        if (h) (h as { cancelled: boolean }).cancelled = true;
      },
      every: (ms, fn) => {
        const h = { cancelled: false };
        const tick = () =>
          this.awake(address, () => {
            if (h.cancelled) return;
            this.dirty = true;
            fn();
            w.at(w.now + ms, tick);
          });
        w.at(w.now + ms, tick);
        return h;
      },
    };
  }

  /**
   * With `lockMoves`: the process of member `index` now and then acquires the `audit` lock, holds
   * it a while, and releases it, until the probe or the process's end (its waits never end then).
   * One loop per process, across its incarnations: an acquire cut off rejects with
   * `LOCK_INTERRUPTED`, and the next one names the incarnation it rejoined as.
   */
  private moveLocks(index: number, replica: Replica<Register>, group: SimGroupHandle): void {
    if (!this.opts.lockMoves) return;
    let holds = 0;
    const r = this.lockDraws;
    void (async () => {
      await undefined; // the first incarnations start while the World is being built
      for (;;) {
        await this.waitOn(index, 150 + r() * 900);
        // Not past the probe (the faults are over then): every member delivers the last moves
        // before the run ends, and sequential-state compares their logs whole.
        if (this.world.now >= (this.cfg.probeAtMs ?? this.cfg.endMs - 6_000)) return;
        try {
          const member = group.self;
          this.acquiring.set(index, { member, at: this.world.now, inc: this.world.nodes[index]!.inc });
          await replica.acquire('audit').finally(() => this.acquiring.delete(index));
          const hold: HandlerSpan = {
            kind: 'hold',
            id: `hold ${++holds}`,
            // The incarnation that holds it: an acquire made while cut off is cast as the next
            // incarnation once it is back (Replica.acquire), so not always `member`, the one that
            // asked (RPC seed 10820696: a hold of bd877948.2 was named bd877948.1, whose last
            // view still listed a crashed holder, and counted as a clash).
            member: group.self,
            start: this.world.now,
            end: Number.POSITIVE_INFINITY,
          };
          this.handlerSpans.push(hold);
          await this.waitOn(index, 20 + r() * 300);
          hold.end = this.world.now;
          replica.release('audit');
        } catch {
          // Cut off: the process rejoins (rejoin same) and moves again as its next incarnation,
          // or it was replaced and its timers never fire again.
        }
      }
    })();
  }

  /**
   * A timer at replica `index`'s process: it fires while that process lives (a crashed or
   * replaced process never resumes its awaits) and waits out a pause.
   */
  private waitOn(index: number, ms: number): Promise<void> {
    const w = this.world;
    const inc = w.nodes[index]!.inc;
    this.asyncUntil.set(index, Math.max(this.asyncUntil.get(index) ?? 0, w.now + ms));
    return new Promise((resolve) => {
      const fire = () => {
        const n = w.nodes[index]!;
        if (!n.alive || n.inc !== inc) return;
        if (w.now < n.pausedUntil) {
          w.at(n.pausedUntil, fire);
          return;
        }
        this.dirty = true;
        resolve();
      };
      w.at(w.now + ms, fire);
    });
  }

  /** The application's sleep: on client `address`, it also waits for the process to wake. */
  private sleep(ms: number, address?: string): Promise<void> {
    const done = (resolve: () => void) => () => {
      this.dirty = true;
      resolve();
    };
    return new Promise((resolve) =>
      this.world.at(this.world.now + ms, () =>
        address === undefined ? done(resolve)() : this.awake(address, done(resolve)),
      ),
    );
  }

  private noteIssues(bytes: Uint8Array): void {
    let p: ReturnType<typeof decodeClientPacket>['packet'];
    try {
      p = decodeClientPacket(unsigned(bytes), groupIdOf('sim')).packet;
    } catch {
      return;
    }
    const calls = p.kind === 'calls' ? p.calls : p.kind === 'call' ? [p] : [];
    for (const c of calls) {
      const tags = this.tagsSent.get(c.id) ?? [];
      if (!tags.some((t) => t.tag === c.history)) {
        tags.push({ tag: c.history, at: this.world.now });
        this.tagsSent.set(c.id, tags);
      }
      const list = this.issuesSent.get(c.id) ?? [];
      if (list.length > 0 && list[list.length - 1]!.issue >= (c.issue ?? 0)) continue;
      list.push({ issue: c.issue ?? 0, at: this.world.now });
      this.issuesSent.set(c.id, list);
    }
  }

  /** Runs the scenario's faults (planned by the caller on `world`) with the client workload. */
  async run(): Promise<void> {
    const w = this.world;
    const seeds = w.nodes.map((n) => n.address);
    for (let c = 0; c < this.opts.clients; c++) {
      const address = `c${c}`;
      const transport = new SimTransport(
        address,
        w,
        () => {
          this.dirty = true;
        },
        (bytes) => this.noteIssues(bytes),
        (fn) => this.awake(address, fn),
      );
      const client = new TroupeClient(
        transport,
        {
          group: 'sim',
          seeds,
          clientId: `c${c}`,
          node: 0x7000_0000 + c,
          timers: this.timers(address),
          ...(this.opts.autoReissue === 'mixed' && c === 0 ? { autoReissue: true } : {}),
          timeoutMs: this.opts.callTimeoutMs,
          connectTimeoutMs: 1_000,
          retransmitMs: 20,
          heartbeatMs: 50,
          contactTimeoutMs: 400,
          ...(this.opts.key !== undefined ? { key: this.opts.key } : {}),
        },
        false,
      );
      this.clients.push(client);
      let counter = 0;
      for (let lane = 0; lane < this.opts.lanes; lane++)
        void this.lane(client, address, () => ++counter, lane).catch((e) => {
          w.log(`c${c} lane ${lane} crashed: ${String(e)}`);
        });
      const probeAt = this.cfg.probeAtMs;
      if (probeAt !== undefined)
        w.at(probeAt, () =>
          this.awake(address, () => {
            void this.call(client, `${client.clientId}:${++counter}`, 'add', [1], 'first', true);
          }),
        );
    }
    const q = w.queue;
    const step = async (e: { at: number; fn: () => void }) => {
      w.now = e.at;
      e.fn();
      if (this.dirty) {
        this.dirty = false;
        await drained();
      }
    };
    let e = q.pop();
    for (; e && e.at <= this.cfg.endMs; e = q.pop()) await step(e);
    // Calls still in flight at the end: the lanes' calls run as long as the group needs, and a
    // long outage (a lost majority, then a re-founding) pushes the last of them into the run's
    // last moments (RPC seed 133002162: re-founded at 11.4 s, c0:140 an `append` started 105 ms
    // before the end, four requests ordered behind it). The checkers judge the end as the result
    // of every call (calls-end, sequential-state), so the run goes on, starting no new call, until
    // those calls ended and the replicas had `SETTLE_MS` to apply what they were given, for at
    // most `DRAIN_MS`, or longer while calls still end (`PROGRESS_MS`, `MAX_DRAIN_MS`). A call
    // that still has not ended then is left pending (calls-end counts it).
    // A run with no call in flight at `endMs` still goes on for `SETTLE_MS`: a call that ended
    // may leave a cast in flight (a redundant reissue, ordered after its call settled by an
    // outcome query), and the group checkers judge every member's deliveries at the end (RPC seed
    // 152700380: the run ended 2.7 ms before two members delivered one, "81 casts, another member
    // 82"; helper-127's sweep s36).
    this.ending = true;
    let limit = this.cfg.endMs + DRAIN_MS;
    let quietFrom = this.calls.every((c) => c.final) ? this.cfg.endMs : Number.POSITIVE_INFINITY;
    let ended = this.calls.filter((c) => c.final).length;
    for (; e && e.at <= Math.min(limit, quietFrom + SETTLE_MS); e = q.pop()) {
      await step(e);
      if (quietFrom !== Number.POSITIVE_INFINITY) continue;
      const now = this.calls.filter((c) => c.final).length;
      if (now > ended) {
        ended = now;
        limit = Math.min(Math.max(limit, w.now + PROGRESS_MS), this.cfg.endMs + MAX_DRAIN_MS);
      }
      if (now === this.calls.length) quietFrom = w.now;
    }
    w.now = Math.max(w.now, this.cfg.endMs);
    for (const c of this.clients) await c.close();
    await new Promise<void>((r) => setImmediate(r));
  }

  private async lane(client: TroupeClient, address: string, next: () => number, lane: number): Promise<void> {
    const r = this.workload;
    await this.sleep(r() * 100 + lane, address);
    for (let k = 0; k < this.opts.callsPerLane; k++) {
      if (this.ending) return;
      const h = r();
      let method = h < this.opts.handlerShare ? 'audit' : METHODS[Math.floor(r() * METHODS.length)]!;
      const args =
        method === 'audit' ? [] : method === 'mul' ? [2 + Math.floor(r() * 4)] : [1 + Math.floor(r() * 150)];
      const x = this.opts.asyncShare > 0 || this.opts.replyShare > 0 ? this.extras() : 1;
      if (method !== 'audit' && x < this.opts.asyncShare) method = 'append';
      const y = this.opts.replyShare > 0 ? this.extras() : 1;
      const mode: ReplyMode =
        y < this.opts.replyShare ? (y < this.opts.replyShare / 2 ? 'all' : 'majority') : 'first';
      await this.call(client, `${client.clientId}:${next()}`, method, args, mode);
      await this.sleep(r() * (this.cfg.loadMs / this.opts.callsPerLane), address);
    }
  }

  private async call(
    client: TroupeClient,
    id: string,
    method: string,
    args: number[],
    mode: ReplyMode,
    probe = false,
  ): Promise<void> {
    const w = this.world;
    const rec: CallRecord = {
      client: client.clientId,
      id,
      method,
      mode,
      ...(probe ? { probe: true as const } : {}),
      args,
      issuedAt: w.now,
      failures: [],
      outcomes: [],
      outcomeErrors: [],
      reissues: [],
      reruns: [],
    };
    this.calls.push(rec);
    w.log(`${rec.client} call ${id} ${method}(${args.join(',')})${mode === 'first' ? '' : ` reply ${mode}`}`);
    const opts = { timeoutMs: this.opts.callTimeoutMs };
    let pending = client.invoke('register', method, args, {
      ...opts,
      requestId: id,
      ...(mode === 'first' ? {} : { reply: mode }),
    });
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await pending;
        rec.final = { kind: 'value', value, via: 'reply', at: w.now };
        w.log(`${rec.client} reply ${id} = ${JSON.stringify(value)}`);
        return;
      } catch (e) {
        const retry = e instanceof FailoverError || e instanceof TimeoutError;
        if (retry) rec.failures.push({ code: e.code, requestId: e.requestId, at: w.now });
        // No majority can answer: final for this call here (the client remembers it for
        // outcome() and reissue() since FINDINGS 90; this harness does not ask); it claims
        // nothing about the outcome.
        if (e instanceof NoMajorityError)
          rec.failures.push({ code: e.code, requestId: e.requestId, at: w.now });
        if (!retry || attempt >= this.opts.maxAttempts) {
          rec.final = { kind: 'error', error: e as Error, via: 'reply', at: w.now };
          w.log(`${rec.client} error ${id} ${(e as Error).name}: ${(e as Error).message}`);
          return;
        }
        w.log(`${rec.client} ${e.code} ${id}`);
      }
      try {
        const o = await client.outcome(id, opts);
        const a: OutcomeAnswer = { at: w.now, status: o.status, settled: o.settled, member: o.member };
        if ('value' in o) a.value = o.value;
        if (o.error) a.error = { code: o.error.code, message: o.error.message };
        rec.outcomes.push(a);
        w.log(`${rec.client} outcome ${id} ${o.status}${o.settled ? '' : ' (unsettled)'} from ${o.member}`);
        if (o.status === 'committed') {
          rec.final = o.error
            ? { kind: 'error', error: o.error, via: 'outcome', at: w.now }
            : { kind: 'value', value: o.value, via: 'outcome', at: w.now };
          return;
        }
      } catch (e) {
        const err = e as Error & { code?: string; requestId?: string };
        rec.outcomeErrors.push({ name: err.name, code: err.code, requestId: err.requestId, at: w.now });
        w.log(`${rec.client} outcome ${id} threw ${err.name}`);
      }
      // Not known to be committed: reissue under the same id (never runs twice).
      rec.reissues.push(w.now);
      w.log(`${rec.client} reissue ${id}`);
      pending = client.reissue(id, opts);
    }
  }
}
