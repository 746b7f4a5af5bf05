/**
 * The server side: a {@link Replica} makes a decorated service instance one replica of an
 * object group. Read top to bottom, a call goes:
 *
 * 1. a client packet arrives at this member, the client's *contact* ({@link Contact},
 *    contact.ts): it answers queries locally, refuses bad calls, and casts ordered calls with
 *    `{ order: 'total' }`;
 * 2. every replica delivers the cast in the same order and queues it ({@link Replica.onDeliver});
 * 3. the queue applies one item at a time, async methods included ({@link Replica.pump}):
 *    the method runs in its call context, its result is recorded in the outcome table, and the
 *    members the reply mode names answer the client directly ({@link Replica.applyRequest});
 * 4. `@Handler` calls are recorded as pending and run only by the lock holder, which casts
 *    a `done` record so every replica records the outcome ({@link Replica.applyDone});
 * 5. a view change is applied at its place in the same queue: locks move, and pending handler
 *    calls of departed holders become `interrupted` ({@link Replica.applyView}).
 *
 * The replica is also the member's {@link StateProvider}: a snapshot holds the application
 * state, the outcome table, the locks and pending handler calls, and whatever was delivered
 * but not yet applied, so a joiner continues exactly where the snapshot was taken.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RequestValidator } from '../../idl/validate.js';
import { steadyNow } from '../clock.js';
import { StateBusyError, TroupeError } from '../errors.js';
import type { Delivery, GroupHandle, StateProvider, StateSource, ViewChange } from '../group/types.js';
import { type CoreSink, OBSERVE_SERVICE, type ObserveSink, requestStep, sinkFor } from '../observe/events.js';
import { endpointOf, type MemberId } from '../stack/member.js';
import { type AuthKey, PacketAuth } from '../wire/auth.js';
import { DecodeError } from '../wire/errors.js';
import type { Endpoint } from '../wire/packet.js';
import { groupIdOf } from '../wire/packet.js';
import type { ReplyMode } from './api.js';
import { ClientLink } from './client-link.js';
import { decodeValue, encodeValue } from './codec.js';
import { Contact, type InOrder, OBSERVE_QUERIES_PER_SEC } from './contact.js';
import { type CallContext, ReplicaCallContext } from './context.js';
import { Dispatcher, type MethodEntry } from './dispatch.js';
import { InterruptedError, OutcomeExpiredError, RpcConfigError, SnapshotError } from './errors.js';
import { fieldsState } from './fields-state.js';
import { HandlerRuns } from './handler-runs.js';
import { LockWaiters } from './lock-waiters.js';
import { LockTable, runByOthers } from './locks.js';
import { decodeGroupMsg, encodeGroupMsg, type GroupMsg, type RequestMsg } from './messages.js';
import { type Lookup, type OutcomeLimits, OutcomeTable } from './outcomes.js';
import type { OutcomeStatus } from './protocol.js';
import { DEFAULT_CALL_QOS } from './qos.js';
import type { Result } from './result.js';
import {
  type AppliedView,
  type Delivered,
  delivered,
  encodeSnapshot,
  type Item,
  opensWith,
  type PendingHandler,
  parseSnapshot,
  type SnapshotParts,
} from './snapshot.js';

/** Application state transfer; defaults to the instance's own `snapshot()`/`restore()`. */
export interface AppState<S = unknown> {
  /** Any msgpack-encodable value. Called synchronously between two applied requests. */
  snapshot(): S;
  restore(state: S): void;
}

/** Options of {@link Replica} and {@link serve}: the validator, state, limits and timings. */
export interface ReplicaOptions {
  /** The generated request validator, e.g. `validateBankRequest`: argument types come from here. */
  validate: RequestValidator;
  /**
   * Application state for state transfer. Default: the instance's `snapshot()` and `restore()`
   * methods when it has both; without either, a copy of its own fields (`fields-state.ts`: plain
   * data, `Map`, `Set`, `Date`, bytes; anything else is refused with `RPC_CONFIG` when the replica
   * is made). One without the other is refused.
   */
  state?: AppState;
  /** Bounds of the outcome table (see docs/rpc.md). */
  outcomes?: Partial<OutcomeLimits>;
  /**
   * Clock (ms since the epoch) for the order timestamps this member puts on requests and for its
   * recast and client timers. Default {@link steadyNow}: wall time at start, never stepped.
   */
  clock?: () => number;
  /**
   * Without a key: this member's secret for the cookies it gives client addresses (docs/rpc.md,
   * "Cookies without a key"). Default 16 random bytes; a simulator passes its own.
   */
  cookieSecret?: Uint8Array;
  /** Clients heard from within this many ms get a `view` packet at each view change. Default 30 s. */
  clientPushMs?: number;
  /** A call cast but not delivered within this many ms is cast again on retransmission. Default 5 s. */
  recastMs?: number;
  /**
   * The group key: client packets are signed and verified with it (clients pass the same
   * `ConnectOptions.key`). `joinReplica` hands its one `key` option to both the group and the
   * replica; `attach` refuses a group whose `authenticated` flag disagrees.
   */
  key?: AuthKey;
  /** With `key`: encrypt client packets (AES-256-GCM); clients pass the same `encrypt`. */
  encrypt?: boolean;
  /** Metrics, logs and traces of this replica (e.g. an `Observer`, docs/observability.md). */
  observe?: ObserveSink;
}

/** Counters for diagnostics. */
export interface ReplicaStats {
  /** Ordered requests whose method ran here. */
  applied: number;
  /** Requests answered from the outcome table instead of running again. */
  deduplicated: number;
  /** Client packets dropped: undecodable or invalid. */
  malformed: number;
  /** Client packets dropped: another group's, or not client packets. */
  foreign: number;
  /** Group messages that failed to decode (skipped at every replica alike). */
  badGroupMessages: number;
  /** Internal errors caught so the member keeps running (should stay 0). */
  internalErrors: number;
  /**
   * Methods found to return a promise though not declared `async` (a decorator's wrapper, an
   * ES2015 build): from their first such run on they run as async methods do (a pre-image of
   * the state kept while they run). That first run has none: a snapshot asked meanwhile is
   * refused and a cut meanwhile stops the replica (docs/rpc.md, "Async methods").
   */
  undeclaredAsync: number;
  /** `call` packets addressed to another member (a former incarnation at this address): dropped. */
  misdirected: number;
  /** Client packets dropped: no valid tag under the group key (or a tag while there is no key). */
  unauthenticated: number;
  /** Authentic client packets dropped as replays. */
  replayed: number;
  /**
   * Group messages refused because they did not come the way their kind must: a `request`,
   * `done`, `acquire` or `release` not delivered through the total order (an unordered or
   * point-to-point copy would be applied here alone), or a `forward` that was not point-to-point.
   */
  unordered: number;
  /** Group messages refused because they name another member than their sender as the
   * request's contact, the handler's runner or the lock's member. */
  impersonated: number;
  /** Ordered copies of requests refused because a fence names their issue (the client gave up on it). */
  fenced: number;
  /** Refusal notices sent to clients of another group or key (at most 10 a second). */
  refusalsSent: number;
  /**
   * Observability queries (service `$troupe`: `status`, `trace`, `check`) dropped unanswered
   * past {@link OBSERVE_QUERIES_PER_SEC} a second.
   */
  observeLimited: number;
  /** Calls first sent into another history of the group (a re-founding lost it): not ordered. */
  otherHistory: number;
  /**
   * Client packets ignored and answers not sent because this member could not speak for the
   * group's history (`GroupHandle.speaking`: a long stop not yet judged, a majority suspected):
   * the client asks again or asks another member.
   */
  unspoken: number;
  /**
   * Keyless hellos answered with a `pad` notice instead of the view: the view is more than
   * three times the hello's bytes (the client says hello again, padded).
   */
  hellosPadded: number;
  /**
   * Without a key: client packets answered with a `cookie` notice because they did not carry this
   * member's cookie for their source address (a call, not served; an outcome query whose answer
   * is over 3 times its bytes). A client sends again with the cookie; many mean forged sources.
   */
  cookieNotices: number;
  /**
   * The view this replica applies now (the last view change it took from the order), and how
   * many requests of that view it has taken from the order since (0 and 0 before any view).
   * Every member of a view takes the same requests after it, a joiner included, so among
   * members at the same view the difference is how far one trails (`troupe status`'s
   * `behind`); `applied` counts the methods this process ran.
   */
  appliedView: number;
  appliedInView: number;
  /** Ordered casts of client requests this member made as contact: one request, or a batch. */
  requestCasts: number;
  /** Client requests those casts carried (÷ `requestCasts`: the mean batch). */
  requestsCast: number;
  /**
   * Client requests the group refused to cast even alone (the cast threw, e.g. over the group's
   * `maxMessage`: its client gets `MESSAGE_TOO_LARGE`). A refused batch is recast as its requests
   * one by one first.
   */
  requestsRefused: number;
  /**
   * How long (ms) the async method now running here has run, 0 when none runs. Every later
   * request waits behind it: one that never settles stops this replica's applies for good
   * (the observer warns, `Observer` option `stuckApplyMs`).
   */
  applyRunningMs: number;
  /** Delivered messages and views waiting in the apply queue behind the one being applied. */
  applyQueued: number;
}

/** The async method running in a replica's apply queue ({@link Replica.applying}). */
export interface RunningApply {
  requestId: string;
  method: string;
  /** How long it has run (ms, by the replica's clock). */
  ms: number;
}

/** What this replica knows of a request. */
export interface LocalOutcome {
  status: OutcomeStatus;
  /** For `committed`: the method's result. */
  value?: unknown;
  error?: { name: string; message: string; code: string };
  /** The view the request was ordered in, when known. */
  viewId?: number;
}

/** Views {@link Replica}'s `recentViews` keeps. */
const RECENT_VIEWS = 16;

/**
 * Makes `instance` a replica of the group `group` has joined. Use it when no state transfer is
 * needed at join (the first member), else create the {@link Replica} first and hand it to the
 * group engine as the state provider.
 *
 * @example
 * ```ts
 * // First member: the group exists already, nothing to transfer.
 * const replica = serve(new Bank(), { group, validate: validateBankRequest });
 *
 * // Joiner: the replica is the state provider the engine calls at the join point, and listens
 * // from the first event (a joiner's held deliveries come before joinGroup resolves).
 * const replica = new Replica(new Bank(), { validate: validateBankRequest });
 * const group = await joinGroup('bank', { seeds, key, state: replica, on: replica.groupListeners() });
 * replica.attach(group);
 * ```
 */
export function serve<T extends object>(
  instance: T,
  options: ReplicaOptions & { group: GroupHandle },
): Replica<T> {
  return new Replica(instance, options).attach(options.group);
}

/**
 * One member's copy of a replicated service: it applies the group's totally ordered requests to
 * `instance` one at a time, in the same order at every member, records each outcome (so a
 * duplicate or a reissue never runs twice and any member can answer an outcome query), answers
 * the clients, runs handler-lock calls at the lock's holder, and is the group's state provider
 * (a joiner starts from a snapshot of it). {@link serve} or `runReplica` make one; a `Replica`
 * made by hand is handed to `joinGroup` as `state` and then attached.
 *
 * @example
 * ```ts
 * const replica = new Replica(new Bank(), { validate: validateBankRequest });
 * const group = await joinGroup('bank', { seeds, key, state: replica, on: replica.groupListeners() });
 * replica.attach(group);
 * console.log(replica.stats().applied, replica.digest()); // the same digest at every member
 * ```
 */
export class Replica<T extends object = object> implements StateProvider {
  readonly instance: T;
  /** The service name from `@Service`. */
  readonly service: string;
  private readonly dispatcher: Dispatcher;
  private readonly app: AppState | undefined;
  private readonly clock: () => number;
  private readonly clientPushMs: number;
  /** {@link ReplicaOptions.cookieSecret}. */
  private readonly cookieSecret: Uint8Array;
  private readonly observe: CoreSink;
  /** The contact role: the clients whose packets reach this member (contact.ts). */
  private readonly contact: Contact;

  // Replicated state: changed only by applying the queue, identical at every replica.
  private outcomes: OutcomeTable;
  private locks = new LockTable();
  private readonly outcomeLimits: Partial<OutcomeLimits>;
  private pending = new Map<string, PendingHandler>();
  private lastNow = 0;
  private applied: AppliedView = { id: 0, members: [] };
  /**
   * Applied a view of the current incarnation: its table is the group's, it may answer
   * clients. False from the start and from a partition until then (a survivor may have
   * committed requests this member never saw).
   */
  private serving = false;
  /** Cut off and not yet back: nothing is applied (the state stays as of the cut) but a `restore`. */
  private frozen = false;
  /** A deferred restore was refused by the service: this replica's state is no history's (see {@link fail}). */
  private failed = false;

  // The apply queue.
  private queue: Item[] = [];
  private running: Item | undefined;
  /** Application state before the async method now running started (what a snapshot must show). */
  private preImage: { readonly state: unknown } | undefined;
  /** The request whose async method is running, and since when (this replica's clock). */
  private runningRequest: { id: string; method: string; since: number } | undefined;
  /**
   * The method now running returned a promise though not marked async: no pre-image was taken,
   * so no snapshot can show this point of the order until it settles.
   */
  private undeclaredRun = false;
  /** Cut off during such a run: frozen at the state its end leaves, its outcome recorded. */
  private freezeWhenSettled = false;
  /** A stale async method a restore took back: the restored state is its pre-image, its request next. */
  private resumed = false;
  /**
   * A stale async method that settled while this member was cut off: the state it started from
   * (as {@link Replica.startOf} encodes it), the state it left and how to record its result. A
   * restored state that starts there, with that request next, takes this run as its own.
   */
  private settledStale: { start: Uint8Array; post: unknown; record: () => void } | undefined;
  private idleWaiters: Array<() => void> = [];

  // This member's own bookkeeping (not replicated).
  private group: GroupHandle | undefined;
  private groupId = 0;
  private endpoint: Endpoint = { node: 0, inc: 0 };
  /** Signs client packets and verifies the clients'; undefined without a key. */
  private readonly auth: PacketAuth | undefined;
  /** Requests delivered (in the order) whose outcome is not yet recorded: id → ordering view. */
  private readonly inOrder = new Map<string, InOrder>();
  /** {@link orderedIn}'s copy of the current view, and the view object it copied. */
  private lastOrderedIn: { from: object; applied: AppliedView } | undefined;
  /**
   * The last {@link RECENT_VIEWS} views this incarnation installed, by id: a request can be
   * delivered in a view after the group has moved on to the next, and `accepted` must still name
   * that view's members (an empty list ended `all` calls with no entries and failed `majority`
   * ones). Emptied at an incarnation's first view: a re-founded group numbers its views from 1
   * again, so an earlier incarnation's view 3 is not this one's (FINDINGS 142).
   */
  private readonly recentViews = new Map<number, AppliedView>();
  /**
   * Lineages the applied order has gone through here: bumped when a view applied shares no
   * member with the view applied before it, which only a founding installs (each view keeps a
   * majority of the one before; a re-founded group's members are all new incarnations). A view
   * id names a view only within one lineage (FINDINGS 142).
   */
  private lineage = 0;
  /**
   * The lineage (see {@link lineage}) of each applied view an outcome may be recorded with (its
   * `view`; a restored table's outcomes have none): a reply from the table names that view only
   * when it is of the current lineage.
   */
  private readonly viewLineage = new WeakMap<object, number>();
  /** {@link frozenView}'s copy, and the view it copied. */
  private lastFrozen: { from: AppliedView; view: CallContext['view'] } | undefined;
  /**
   * The clients this member is contact of, and its packets to them: replies and acceptances are
   * sent together at the end of this turn (a microtask), so what one incoming packet's deliveries
   * produce for one client leaves in one packet, and an `accepted` whose reply goes in the same
   * turn is not sent at all (docs/rpc.md, "Batching").
   */
  private readonly link = new ClientLink({
    group: () => this.group,
    groupId: () => this.groupId,
    endpoint: () => this.endpoint,
    auth: () => this.auth,
    clock: () => this.clock(),
    observe: () => this.observe,
    guard: (fn) => this.guard(fn),
    cookieSecret: () => this.cookieSecret,
  });
  /** This member's own `acquire()` calls still waiting for their lock. */
  private readonly lockWaiters = new LockWaiters();
  /** This member's runs of the handler calls it holds the lock of (handler-runs.ts). */
  private readonly handlers: HandlerRuns;
  private readonly counters: Omit<
    ReplicaStats,
    'applyRunningMs' | 'applyQueued' | 'hellosPadded' | 'cookieNotices' | 'appliedView' | 'appliedInView'
  > = {
    applied: 0,
    deduplicated: 0,
    malformed: 0,
    foreign: 0,
    badGroupMessages: 0,
    internalErrors: 0,
    undeclaredAsync: 0,
    misdirected: 0,
    unauthenticated: 0,
    replayed: 0,
    unordered: 0,
    impersonated: 0,
    fenced: 0,
    refusalsSent: 0,
    observeLimited: 0,
    otherHistory: 0,
    unspoken: 0,
    requestCasts: 0,
    requestsCast: 0,
    requestsRefused: 0,
  };
  /**
   * Counts the member's histories: bumped when it is cut off from the group (partitioned or
   * excluded). Work begun in an earlier history (an async method, a handler) must not touch the
   * state it finds when it ends, which by then is another history's or a restored snapshot.
   */
  private generation = 0;
  /** The last client request applied here (named in divergence reports). */
  private lastRequest: string | undefined;
  /** Where this replica stands in the order: {@link ReplicaStats.appliedView}, `appliedInView`. */
  private position = { view: 0, taken: 0 };
  /** A view reached the listeners: they were registered in time (see {@link attach}). */
  private heard = false;
  /** `restore` was called: this replica is a joiner's (or a co-founder's) state. */
  private restored = false;
  /**
   * The member whose state this replica's is a copy of, until a divergence check confirms it
   * (FINDINGS 216): set by a restore (its source's origin), cleared when a check this replica
   * reported in found its digest to be the majority's ({@link StateProvider.stateOrigin}).
   * A copy agreeing with its origin is no evidence of what the origin held when the copy was
   * taken, so the check counts both as one vote (docs/observability.md, "Divergence").
   */
  private origin: MemberId | undefined;
  /** Counts restores, so a confirmation of a check taken before the last one changes nothing. */
  private originEpoch = 0;
  private readonly listeners = {
    deliver: (d: Delivery) => this.guard(() => this.onDeliver(d)),
    view: (v: ViewChange) => {
      this.heard = true;
      this.guard(() => this.onView(v));
    },
    partitioned: () => this.guard(() => this.onPartitioned()),
  };

  constructor(instance: T, options: ReplicaOptions) {
    if (typeof options?.validate !== 'function')
      throw new RpcConfigError('a replica needs the generated request validator (options.validate)');
    this.instance = instance;
    this.dispatcher = new Dispatcher(instance, options.validate);
    this.service = this.dispatcher.service;
    this.app = options.state ?? defaultAppState(instance);
    this.outcomeLimits = options.outcomes ?? {};
    this.outcomes = new OutcomeTable(this.outcomeLimits);
    this.clock = options.clock ?? steadyNow;
    this.cookieSecret = options.cookieSecret ?? randomBytes(16);
    this.clientPushMs = options.clientPushMs ?? 30_000;
    this.auth =
      options.key === undefined
        ? undefined
        : new PacketAuth(options.key, { encrypt: options.encrypt === true });
    this.observe = sinkFor(options.observe, () => this.group?.self);
    this.contact = new Contact(
      {
        group: () => this.group,
        groupId: () => this.groupId,
        endpoint: () => this.endpoint,
        auth: this.auth,
        counters: this.counters,
        link: this.link,
        dispatcher: this.dispatcher,
        observe: this.observe,
        clock: () => this.clock(),
        serving: () => this.serving,
        outcomes: () => this.outcomes,
        pendingView: (id) => this.pending.get(id)?.view,
        queued: (id) => this.inOrder.get(id),
        applied: () => this.applied,
        replyFromTable: (id, outcome, client, view) => this.sendOutcomeReply(id, outcome, client, view),
        context: (id, entry, view, now) => this.context(id, entry, view, now),
      },
      options.recastMs ?? 5_000,
    );
    this.handlers = new HandlerRuns({
      group: () => this.group,
      generation: () => this.generation,
      pending: () => this.pending,
      dispatcher: this.dispatcher,
      counters: this.counters,
      gatesOpened: () => this.wakeLockWaiters(),
    });
  }

  /** The group listeners of this replica, to register before joining (see {@link joinReplica}). */
  groupListeners(): {
    deliver: (d: Delivery) => void;
    view: (v: ViewChange) => void;
    partitioned: () => void;
  } {
    return this.listeners;
  }

  /** Starts serving on `group`: deliveries, views and client packets. Returns `this`. */
  attach(group: GroupHandle): this {
    if (this.group) throw new RpcConfigError('replica is already attached to a group');
    const keyed = (group as { authenticated?: unknown }).authenticated;
    if (typeof keyed === 'boolean' && keyed !== (this.auth !== undefined))
      throw new RpcConfigError(
        keyed
          ? 'the group authenticates its packets: give the replica the same key (ReplicaOptions.key)'
          : 'the replica has a key but the group does not: give the group the same key (JoinOptions.key)',
      );
    const groupKeyId = (group as { keyId?: unknown }).keyId;
    if (typeof groupKeyId === 'string' && this.auth && groupKeyId !== this.auth.keyId)
      throw new RpcConfigError(
        `the replica's key (id ${this.auth.keyId}) is not the group's (id ${groupKeyId}): give both the same key`,
      );
    if (this.restored && !this.heard && group.view)
      // Its state came at the join point, but the deliveries released right after it (before
      // joinGroup resolved) went to no listener: attached now, it would serve a state without them.
      throw new RpcConfigError(
        "a joiner's replica must listen from its first event: pass replica.groupListeners() as the group's `on` option (or use joinReplica)",
      );
    this.group = group;
    this.groupId = groupIdOf(group.groupName);
    this.endpoint = endpointOf(group.self);
    group.on('deliver', this.listeners.deliver);
    group.on('view', this.listeners.view);
    group.on('partitioned', this.listeners.partitioned);
    group.onClientPacket((bytes, from) => this.guard(() => this.contact.onPacket(bytes, from)));
    this.observe.event({ type: 'replica', replica: this, group });
    // Attached after the first view was installed (a group joined before the replica existed).
    if (group.view && !this.serving && !this.queue.some((i) => i.t === 'view' && i.fresh)) {
      this.queue.push({ t: 'view', viewId: group.view.id, members: [...group.view.members], fresh: true });
    }
    this.pump();
    return this;
  }

  /** Stops listening to the group (client packets keep arriving at the handle but are ignored). */
  detach(): void {
    if (!this.group) return;
    this.lockWaiters.interrupt('the replica was detached from its group');
    this.group.off('deliver', this.listeners.deliver);
    this.group.off('view', this.listeners.view);
    this.group.off('partitioned', this.listeners.partitioned);
    this.group.onClientPacket(() => {});
    this.group = undefined;
  }

  // ---------------------------------------------------------------------------------------
  // 2. Deliveries and views enter the apply queue.

  private onDeliver(d: Delivery): void {
    if (this.failed) return;
    let msg: GroupMsg;
    try {
      msg = decodeGroupMsg(d.payload);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.counters.badGroupMessages++;
      return;
    }
    if (msg.kind === 'forward' || d.p2p) {
      if (msg.kind === 'forward' && d.p2p) this.contact.answerForwarded(msg);
      else this.counters.unordered++;
      return;
    }
    // Replicated state changes only through the total order: any other copy of these kinds
    // reaches some replicas and not others (a forged unreliable cast, issue 11).
    if (d.qos.order !== 'total') {
      this.counters.unordered++;
      return;
    }
    if (msg.kind === 'requests') {
      // A contact's batch: each part at this place in the order, one after another. A part that
      // does not decode, is not a request or names another contact is skipped, at every replica
      // alike (they all check the same bytes).
      for (const part of msg.parts) {
        let req: GroupMsg;
        try {
          req = decodeGroupMsg(part);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          this.counters.badGroupMessages++;
          continue;
        }
        if (req.kind !== 'request') this.counters.badGroupMessages++;
        else if (req.contact !== d.sender) this.counters.impersonated++;
        else this.onOrderedRequest(req, part, d);
      }
      // Only once the batch is queued: the next batch's cast cannot cost this one's place.
      if (d.sender === this.group?.self) this.contact.batchDelivered();
      this.pump();
      return;
    }
    const named =
      msg.kind === 'request'
        ? msg.contact
        : msg.kind === 'done'
          ? msg.runner
          : msg.kind === 'fence'
            ? msg.by
            : msg.member;
    if (named !== d.sender) {
      this.counters.impersonated++;
      return;
    }
    if (msg.kind === 'request') {
      this.onOrderedRequest(msg, d.payload, d);
      if (d.sender === this.group?.self && msg.service !== OBSERVE_SERVICE) this.contact.batchDelivered();
    } else this.queue.push({ t: 'msg', payload: d.payload, sender: d.sender, viewId: d.viewId, msg });
    this.pump();
  }

  /** A request reached its place in the order (alone or in a batch): noted, told, queued. */
  private onOrderedRequest(msg: RequestMsg, payload: Uint8Array, d: Delivery): void {
    const orderedIn = this.orderedIn(d.viewId);
    this.inOrder.set(msg.id, { id: orderedIn.id, members: orderedIn.members, issue: msg.issue });
    const { viewId, gseq } = d;
    requestStep.ordered(this.observe, msg.id, viewId, gseq, msg.contact);
    // Our own cast came back in the order: the request is accepted. (A divergence checkpoint
    // names its caster as contact too, but has no client to tell.)
    if (msg.service !== OBSERVE_SERVICE && msg.contact === this.group?.self && d.sender === this.group.self)
      this.contact.ordered(msg, orderedIn);
    this.queue.push({ t: 'msg', payload, sender: d.sender, viewId: d.viewId, msg });
  }

  private onView(v: ViewChange): void {
    // After a rejoin the member is a new incarnation: sign client packets as it.
    if (this.group) this.endpoint = endpointOf(this.group.self);
    if (this.failed) return;
    this.queue.push({ t: 'view', viewId: v.view.id, members: [...v.view.members], fresh: true });
    if (v.previousId === undefined) this.recentViews.clear();
    this.rememberView({ id: v.view.id, members: [...v.view.members] });
    this.frozen = false;
    if (this.group) this.lockWaiters.castDeferred(this.group);
    this.pump();
    this.link.pushView(this.clientPushMs);
    this.contact.viewInstalled();
  }

  /**
   * Cut off from the group: this member's history stops here. Its replicated state stays what
   * it delivered (a group re-founded after losing its majority may start from it, see
   * docs/protocol.md "Re-founding"), frozen until it rejoins: what it delivered and has not
   * applied waits for its next view. It answers no client until it applied a view of its new
   * incarnation, and nothing it cast or was running goes on.
   *
   * An async method still running belongs to the old history: its result is never recorded
   * (generations), but its continuation may still write into the application state. So the
   * state as of the cut (its pre-image, the method's request still to apply) is captured now
   * and installed once the method has settled, before anything else is applied.
   */
  private onPartitioned(): void {
    this.lockWaiters.interrupt('this member was cut off from its group before it held the lock');
    this.generation++;
    this.serving = false;
    this.frozen = true;
    this.contact.cutOff();
    this.inOrder.clear();
    this.handlers.drop();
    this.resumed = false;
    if (!this.running) return;
    // Half run with no pre-image: the state now is no point of the order, but the state once it
    // has settled is (its request applied), with the queue behind it: frozen there.
    if (this.undeclaredRun) {
      this.freezeWhenSettled = true;
      // What is queued now is the ended incarnation's: its views must not start serving.
      for (const i of this.queue) if (i.t === 'view') i.fresh = false;
    } else this.queue = [{ t: 'restore', state: this.snapshot() }];
  }

  // ---------------------------------------------------------------------------------------
  // 3. The apply queue: one item at a time, in delivery order.

  private pump(): void {
    while (!this.running && this.queue.length > 0) {
      if (this.frozen && this.queue[0]!.t !== 'restore') break;
      const item = this.queue.shift()!;
      if (item.t !== 'restore') this.settledStale = undefined;
      let r: Promise<void> | undefined;
      try {
        if (item.t === 'restore') this.install(parseSnapshot(item.state, this.outcomeLimits));
        else r = item.t === 'view' ? this.applyView(item) : this.applyMsg(item);
      } catch {
        this.counters.internalErrors++;
        this.preImage = undefined;
        if (item.t === 'restore') this.fail();
      }
      if (r) {
        this.running = item;
        r.catch(() => this.counters.internalErrors++).finally(() => {
          this.running = undefined;
          this.runningRequest = undefined;
          this.preImage = undefined;
          this.undeclaredRun = false;
          // The state the run left, with the queue behind it, is the frozen state already: no
          // snapshot of it is taken (one that throws here was an unhandled rejection) and the
          // views queued after the cut keep their `fresh` mark.
          this.freezeWhenSettled = false;
          this.resumed = false;
          this.pump();
        });
      }
    }
    if (this.settled) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * A restore deferred behind a stale async method was refused by the service when installed
   * (its own `restore` threw): the member core took the state as restored, so going on would
   * apply the group's order to another state and serve it, or hand it to joiners. The replica
   * stops instead (applies nothing, answers no client, `snapshot()` throws) and leaves the group.
   */
  private fail(): void {
    this.lockWaiters.interrupt('this replica failed');
    this.failed = true;
    this.resumed = false;
    this.settledStale = undefined;
    this.frozen = true;
    this.serving = false;
    this.generation++;
    this.queue = [];
    this.handlers.drop();
    this.group?.leave().catch(() => {
      this.counters.internalErrors++;
    });
  }

  private applyMsg(item: Extract<Item, { t: 'msg' }>): Promise<void> | undefined {
    // Decoded once, when delivered (or when a snapshot's backlog was queued).
    let msg: GroupMsg;
    try {
      msg = item.msg ?? decodeGroupMsg(item.payload);
    } catch {
      this.counters.badGroupMessages++;
      return undefined;
    }
    switch (msg.kind) {
      case 'request':
        return this.applyRequest(msg);
      case 'done':
        this.applyDone(msg.id, msg.runner, msg.result);
        return undefined;
      case 'acquire':
        this.locks.acquire(msg.lock, msg.member);
        if (msg.member === this.group?.self) {
          this.lockWaiters.applied(msg.lock, msg.member);
        }
        this.wakeLockWaiters();
        return undefined;
      case 'release':
        this.locks.release(msg.lock, msg.member, this.applied.members);
        this.wakeLockWaiters();
        return undefined;
      case 'fence':
        this.outcomes.fence(msg.id, msg.upTo);
        this.contact.fenceApplied(msg.id, msg.upTo);
        return undefined;
      default:
        return undefined;
    }
  }

  private applyRequest(msg: RequestMsg): Promise<void> | undefined {
    const view = this.applied;
    if (msg.service === OBSERVE_SERVICE) {
      // Observability's own ordered messages (divergence checkpoints): no method runs, nothing
      // replicated changes; the observer sees the point in the order they mark.
      this.inOrder.delete(msg.id);
      const copy = { id: view.id, members: [...view.members] };
      const epoch = this.originEpoch;
      this.observe.event({
        type: 'system',
        msg,
        view: copy,
        digest: () => this.digest(),
        last: this.lastRequest,
        origin: this.origin,
        // Called by the divergence monitor when the check of this checkpoint found this
        // replica's digest to be the majority's: its state here was confirmed, and what it
        // holds later is its own application's. A restore since then keeps its new origin.
        confirm: () => {
          if (this.originEpoch === epoch) this.origin = undefined;
        },
      });
      return undefined;
    }
    this.lastRequest = msg.id;
    if (view.id !== this.position.view) this.position = { view: view.id, taken: 0 };
    this.position.taken++;
    // This member's own cast: its arguments were decoded and validated when the call came in.
    const cast = this.contact.applying(msg, this.group?.self);
    const now = Math.max(this.lastNow, msg.ts);
    this.lastNow = now;
    // Every replica learns the client, so all of them push it the next view (fast fail-over).
    this.link.touch(msg.client);
    // The client's session: refreshed, and what the client settled is dropped, before the lookup.
    this.outcomes.request(msg.id, msg.settled, msg.keep, msg.client);

    const known = this.outcomes.get(msg.id);
    if (known) {
      // A reissue or a second contact's copy: never run twice, answer from the table.
      this.counters.deduplicated++;
      this.inOrder.delete(msg.id);
      this.respond(msg, msg.contact, view, known);
      return undefined;
    }
    if (this.outcomes.refuses(msg.id, msg.issue)) {
      // A copy of an issue the client gave up on, however late it reached its contact: a member
      // already told the client, finally, that the request is not in the order. A reissue runs.
      // A copy of another issue delivered after this one is still queued, and still in the order.
      if (this.inOrder.get(msg.id)?.issue === msg.issue) this.inOrder.delete(msg.id);
      this.counters.fenced++;
      return undefined;
    }
    const pending = this.pending.get(msg.id);
    if (pending) {
      // Still running at the lock holder: its completion answers the newest caller.
      Object.assign(pending, { client: msg.client, mode: msg.mode, contact: msg.contact });
      this.inOrder.delete(msg.id);
      return undefined;
    }
    const resolved = cast ?? this.dispatcher.resolve(msg.service, msg.method, msg.args);
    if (!resolved.ok) return this.commit(msg, msg.contact, view, now, resolved.result);
    const { entry, args } = resolved;
    if (entry.kind === 'handler') {
      const runner = this.locks.holder(entry.lock!, view.members);
      if (!runner) return undefined;
      const p: PendingHandler = {
        id: msg.id,
        lock: entry.lock!,
        runner,
        client: msg.client,
        mode: msg.mode,
        contact: msg.contact,
        view,
        at: now,
      };
      this.pending.set(msg.id, p);
      this.inOrder.delete(msg.id);
      if (runner === this.group?.self) {
        requestStep.applying(this.observe, msg.id, entry.name);
        this.handlers.run(p, entry, args, this.context(msg.id, entry, view, now));
      }
      return undefined;
    }
    this.counters.applied++;
    requestStep.applying(this.observe, msg.id, entry.name);
    if (entry.async && this.app) this.preImage = this.capturePreImage(this.app);
    const r = this.dispatcher.run(entry, args, this.context(msg.id, entry, view, now));
    if (r instanceof Promise) {
      const running = { id: msg.id, method: entry.name, since: this.clock() };
      this.runningRequest = running;
      if (!entry.async) {
        // Not declared async, yet it is (a wrapping decorator, a down-levelled build): it may
        // already have changed the state, with no pre-image. Every later run of it keeps one.
        entry.async = true;
        this.counters.undeclaredAsync++;
        this.undeclaredRun = true;
      }
      const generation = this.generation;
      return r.then((result) => {
        if (this.runningRequest === running) this.runningRequest = undefined;
        if (generation === this.generation || this.resumed) this.commit(msg, msg.contact, view, now, result);
        else if (this.freezeWhenSettled) {
          // The history it ran in ended meanwhile: its outcome goes into the state frozen at the
          // cut (no reply: this member no longer speaks for that history).
          this.outcomes.record(msg.id, { status: 'committed', result, viewId: view.id, at: now, view });
        } else {
          // Cut off while it ran: kept in case the state restored at the rejoin starts where it did.
          const start = this.startOf();
          if (start && this.app)
            this.settledStale = {
              start,
              post: this.app.snapshot(),
              // The restored table has not counted the request (it heads the backlog there).
              record: () => {
                this.outcomes.request(msg.id, msg.settled, msg.keep, msg.client);
                this.commit(msg, msg.contact, view, now, result);
              },
            };
        }
      });
    }
    this.preImage = undefined;
    return this.commit(msg, msg.contact, view, now, r);
  }

  /** Records the outcome (the replicated part of applying a request), then answers. */
  private commit(
    to: { id: string; client: string; mode: ReplyMode },
    firstResponder: MemberId,
    view: AppliedView,
    at: number,
    result: Result,
  ): undefined {
    const outcome = { status: 'committed' as const, result, viewId: view.id, at, view };
    this.outcomes.record(to.id, outcome);
    requestStep.outcome(this.observe, to.id, view.id, 'committed', result.ok);
    this.inOrder.delete(to.id);
    this.respond(to, firstResponder, view, outcome);
    return undefined;
  }

  /**
   * Answers the client as the reply mode says: nobody for `none`; `firstResponder` (the contact,
   * or the lock holder for handler calls) for `first`; every member of the view for `all`/`majority`.
   */
  private respond(
    to: { id: string; client: string; mode: ReplyMode },
    firstResponder: MemberId,
    view: AppliedView,
    outcome: NonNullable<Lookup>,
  ): void {
    const self = this.group?.self;
    if (!self || to.mode === 'none' || !view.members.includes(self)) return;
    if (to.mode === 'first' && firstResponder !== self) return;
    this.sendOutcomeReply(to.id, outcome, to.client, view);
  }

  private sendOutcomeReply(
    id: string,
    outcome: NonNullable<Lookup>,
    client: string,
    view: AppliedView,
  ): void {
    const result: Result =
      outcome.status === 'committed'
        ? outcome.result
        : {
            ok: false,
            error:
              outcome.status === 'interrupted'
                ? wire(new InterruptedError(id))
                : wire(new OutcomeExpiredError(id)),
          };
    // The view named and its members go together: a client takes them as the ordering view of
    // an `all`/`majority` call, and counts a member it knows left since as failed. The recorded
    // view's id with a later view's members made it take members that joined since for members
    // that had left (a NoMajorityError with every member up; FINDINGS 93).
    // The recorded view is named only if this member recorded the outcome with it in the lineage
    // it applies now: a view id alone names a view of one lineage only, and a re-founded group
    // reuses them (a lineage's outcome named with the next lineage's view of the same id made a
    // `majority` client count members that never ordered it; FINDINGS 142). Otherwise, as when
    // the member never knew that view, its current view, with its own id.
    if (!this.contact.speaks()) return; // what it recorded may be of a lost history
    const recorded = outcome.status === 'expired' ? undefined : outcome.view;
    const named =
      recorded && recorded.id !== view.id && this.viewLineage.get(recorded) === this.lineage
        ? recorded
        : view;
    const { id: viewId, members } = named;
    this.link.send(client, { kind: 'reply', id, member: this.group!.self, viewId, members, result });
  }

  // ---------------------------------------------------------------------------------------
  // 4. Handler calls: run by the lock holder (handler-runs.ts), completed by an ordered `done`.

  /**
   * The application state before an async method, or, when it cannot be taken (a service whose
   * fields came to hold what `fieldsState` cannot copy), a pre-image whose reading throws: the
   * request still runs (it used to be dropped: no outcome, no reply), and a joiner asking for
   * the state meanwhile is refused, as it would be between requests, rather than given the
   * method's half-done state.
   */
  private capturePreImage(app: AppState): { readonly state: unknown } {
    try {
      return { state: app.snapshot() };
    } catch (e) {
      this.counters.internalErrors++;
      return {
        get state(): unknown {
          throw e;
        },
      };
    }
  }

  private applyDone(id: string, runner: MemberId, result: Result): void {
    const p = this.pending.get(id);
    if (!p || p.runner !== runner) return; // interrupted already, or a stale duplicate
    this.pending.delete(id);
    this.commit(p, p.runner, p.view, p.at, result);
    this.handlers.open();
  }

  // ---------------------------------------------------------------------------------------
  // 5. View changes, at their place in the order.

  private applyView(item: Extract<Item, { t: 'view' }>): undefined {
    const { viewId, members } = item;
    if (item.fresh && !this.serving) {
      this.serving = true;
      // The clients that asked while this member could not answer (a keyless one takes a view
      // only in answer to its hello) learn the view now.
      this.link.pushView(this.clientPushMs);
    }
    // Attached after the group delivered this very view to the listeners: applied once. (Not
    // `viewId <= applied.id`: a re-founded group counts views from 1 again.)
    if (viewId === this.applied.id && sameMembers(members, this.applied.members)) return undefined;
    if (this.applied.members.length > 0 && !members.some((m) => this.applied.members.includes(m)))
      this.lineage++;
    this.applied = { id: viewId, members };
    // Every member of the view, a joiner included, starts its count of the view's requests here.
    this.position = { view: viewId, taken: 0 };
    this.viewLineage.set(this.applied, this.lineage);
    this.locks.view(members);
    const present = new Set(members);
    for (const p of [...this.pending.values()]) {
      if (present.has(p.runner)) continue;
      this.pending.delete(p.id);
      const outcome = { status: 'interrupted' as const, viewId: p.view.id, at: p.at, view: p.view };
      this.outcomes.record(p.id, outcome);
      requestStep.outcome(this.observe, p.id, p.view.id, 'interrupted');
      // The survivors answer: for `first`, the contact if it is still there.
      this.respond(
        p,
        p.contact,
        { id: p.view.id, members: p.view.members.filter((m) => present.has(m)) },
        outcome,
      );
    }
    this.handlers.open();
    return undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Locks, for the application.

  /** The member holding `lock` now (in the applied order), by acquisition or by the default rule. */
  holder(lock: string): MemberId | undefined {
    return this.locks.holder(lock, this.applied.members);
  }

  /**
   * Acquires `lock` with an ordered cast; resolves once that cast is applied, this member then
   * holds the lock, and the handler calls of it that earlier holders were running have ended (so
   * this member's work under the lock never overlaps theirs). A hold from before the cast does
   * not count: after `release(lock)`, `acquire(lock)` waits its turn behind members queued
   * earlier. Rejects with
   * `TroupeError` `LOCK_INTERRUPTED` if this member is cut off from its group (or leaves) first:
   * it rejoins as a new member, which the acquire never named.
   */
  acquire(lock: string): Promise<void> {
    const group = this.requireGroup();
    if (this.failed)
      return Promise.reject(
        new TroupeError('LOCK_INTERRUPTED', `acquire of lock '${lock}': this replica failed`),
      );
    return this.lockWaiters.add(lock, group, this.frozen);
  }

  /** Releases `lock` with an ordered cast; it passes to the next member queued for it. */
  release(lock: string): void {
    const group = this.requireGroup();
    group.cast(encodeGroupMsg({ kind: 'release', lock, member: group.self }), DEFAULT_CALL_QOS);
  }

  private wakeLockWaiters(): void {
    const self = this.group?.self;
    if (!self) return;
    // Held after this member's own acquire was applied (a hold from before it, about to be
    // released, is not this acquire's), and exclusively: earlier holders' calls of it ended.
    this.lockWaiters.wake(
      self,
      (lock) => this.locks.holds(lock, self) && !runByOthers(this.pending.values(), lock, self),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Introspection.

  /** What this replica knows of `requestId` (applied state only). */
  outcome(requestId: string): LocalOutcome {
    const known = this.outcomes.get(requestId);
    if (known?.status === 'committed') {
      const r = known.result;
      return r.ok
        ? { status: 'committed', value: decodeValue(r.value), viewId: known.viewId }
        : { status: 'committed', error: r.error, viewId: known.viewId };
    }
    if (known?.status === 'interrupted') return { status: 'interrupted', viewId: known.viewId };
    if (known) return { status: 'expired' };
    const pending = this.pending.get(requestId);
    return pending ? { status: 'pending', viewId: pending.view.id } : { status: 'not-found' };
  }

  /** Number of outcomes held in the outcome table. */
  get outcomeCount(): number {
    return this.outcomes.size;
  }

  /**
   * Resolves when every delivered item has been applied, or, while cut off from the group, when
   * nothing more will be until it rejoins (its backlog waits, see docs/rpc.md "Partitions").
   */
  idle(): Promise<void> {
    if (this.settled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private get settled(): boolean {
    return !this.running && (this.queue.length === 0 || (this.frozen && this.queue[0]!.t !== 'restore'));
  }

  /** This replica's counters since it was made, and its queue and apply state now. */
  stats(): ReplicaStats {
    return {
      ...this.counters,
      ...this.contact.stats(),
      hellosPadded: this.link.padded,
      cookieNotices: this.link.cookieNotices,
      appliedView: this.position.view,
      appliedInView: this.position.taken,
      applyRunningMs: this.applying()?.ms ?? 0,
      applyQueued: this.queue.length,
    };
  }

  /**
   * The async method running in the apply queue, if any: which request, and for how long. An
   * ordered method runs one at a time, in the order, at every replica; a method that never
   * settles holds every later request back, at every replica alike when the cause is in the
   * method, so this is where to look when calls stop being answered.
   *
   * @example
   * const running = replica.applying();
   * if (running && running.ms > 10_000) console.warn(`${running.method} (${running.requestId}) holds the queue`);
   */
  applying(): RunningApply | undefined {
    const r = this.runningRequest;
    return r && { requestId: r.id, method: r.method, ms: this.clock() - r.since };
  }

  /**
   * A digest of the replicated state (application state, outcome table, locks, order clock):
   * equal at replicas that applied the same requests, so replicas compare it at an agreed point
   * of the order to detect divergence (docs/observability.md).
   */
  digest(): string {
    const app = this.app ? (this.preImage ? this.preImage.state : this.app.snapshot()) : null;
    const state = encodeValue([app, this.outcomes.snapshot(), this.locks.snapshot(), this.lastNow]);
    return createHash('sha256').update(state).digest('hex').slice(0, 32);
  }

  // ---------------------------------------------------------------------------------------
  // State transfer.

  /**
   * The member whose state this replica's is a still unconfirmed copy of (the origin a joiner
   * restored from this replica inherits), or undefined when its state is its own
   * ({@link StateProvider.stateOrigin}).
   */
  stateOrigin(): MemberId | undefined {
    return this.origin;
  }

  /** The replicated state at this point of the delivery order (see the module comment). */
  snapshot(): Uint8Array {
    if (this.failed) throw new SnapshotError('this replica refused the state it was given and stopped');
    if (this.undeclaredRun)
      throw new StateBusyError(
        'a method not declared async is running asynchronously: no state until it settles',
      );
    const head = this.queue[0];
    if (head?.t === 'restore') {
      // Frozen at a partition (or a restore waiting for a stale async method): that state, plus
      // whatever was delivered since.
      const parts = parseSnapshot(head.state, this.outcomeLimits);
      return encodeSnapshot({ ...parts, backlog: [...parts.backlog, ...delivered(this.queue.slice(1))] });
    }
    return encodeSnapshot({
      app: this.app ? (this.preImage ? this.preImage.state : this.app.snapshot()) : null,
      outcomes: this.outcomes,
      locks: this.locks,
      pending: this.pending,
      lastNow: this.lastNow,
      applied: this.applied,
      backlog: delivered(this.running ? [this.running, ...this.queue] : this.queue),
      // The request still running heads the backlog, and the table already counted it: counted
      // once more where the snapshot is applied, the order's progress there ran one ahead
      // (a divergent digest after every join during an async method; FINDINGS 65).
      unapplied: this.running?.t === 'msg' && this.running.msg?.kind === 'request' ? 1 : 0,
    });
  }

  /**
   * Installs a snapshot taken by another replica of this group; called before any delivery.
   * The snapshot is checked whole before anything changes: a malformed one throws
   * {@link SnapshotError} and leaves this replica as it was, the service's state included (if
   * its own `restore` throws, its previous state is restored). While an async method of an
   * earlier history still runs, the snapshot is installed once it has settled, so its
   * continuation cannot write into the new state.
   */
  restore(state: Uint8Array, source?: StateSource): void {
    if (this.failed) throw new SnapshotError('this replica refused the state it was given and stopped');
    const parts = parseSnapshot(state, this.outcomeLimits);
    this.restored = true;
    // The state's origin, whichever way it is installed below (if the service refuses it, the
    // group core ends this incarnation, as for `restored`). Without a source (restored by
    // hand) the state counts as this replica's own, as before.
    this.originEpoch++;
    this.origin = source && source.origin !== this.group?.self ? source.origin : undefined;
    this.resumed = false;
    // Given before this incarnation's first view: what is remembered is an earlier one's, whose
    // view ids the history restored here may number otherwise (FINDINGS 142).
    this.recentViews.clear();
    const stale = this.settledStale;
    this.settledStale = undefined;
    if (this.running) {
      const start = this.startOf();
      if (start && opensWith(parts, start)) {
        // The stale method runs this very request on this very state: it is the new history's
        // run (running it again would apply the request twice here). The rest of the backlog follows.
        this.resumed = true;
        this.queueBacklog(parts.backlog.slice(1), parts.applied);
        return;
      }
      this.queue = [{ t: 'restore', state }];
      return;
    }
    // Whatever is still queued (a backlog frozen at a partition) belongs to the state replaced,
    // unless the service refuses the new state: then nothing changes, the backlog included.
    const kept = this.queue;
    this.queue = [];
    try {
      this.install(parts);
    } catch (e) {
      this.queue = kept;
      this.settledStale = stale;
      throw e;
    }
    if (stale && opensWith(parts, stale.start)) this.takeBack(stale, parts.app);
    // Applied when attached (or at the first delivery).
    if (this.group) this.pump();
  }

  /**
   * The state just installed starts where a stale async method that already settled started,
   * its request next (its provider was still running it): that run is the new history's, as
   * when the method still runs ({@link Replica.restore}); running it again would apply the
   * request twice here. If the service refuses its own later state, it is put back at the start
   * and the request runs again.
   */
  private takeBack(stale: NonNullable<Replica['settledStale']>, start: unknown): void {
    try {
      this.app?.restore(stale.post);
    } catch {
      this.counters.internalErrors++;
      try {
        this.app?.restore(start);
      } catch {
        this.counters.internalErrors++;
      }
      return;
    }
    this.queue.shift();
    stale.record();
  }

  /** Makes `parts` this replica's state; the queue continues with its backlog, then what came after. */
  private install(parts: SnapshotParts): void {
    if (this.app && parts.app !== null) {
      const before = this.app.snapshot();
      try {
        this.app.restore(parts.app);
      } catch (cause) {
        try {
          this.app.restore(before);
        } catch {
          this.counters.internalErrors++;
        }
        throw new SnapshotError('the service refused the state snapshot', { cause });
      }
    }
    this.outcomes = parts.outcomes;
    this.locks = parts.locks;
    this.pending = parts.pending;
    this.handlers.open();
    this.lastNow = parts.lastNow;
    this.applied = parts.applied;
    // The provider's views, of the lineage it applies: this member joins it here.
    this.viewLineage.set(parts.applied, this.lineage);
    for (const p of parts.pending.values()) this.viewLineage.set(p.view, this.lineage);
    this.queueBacklog(parts.backlog, parts.applied);
  }

  /**
   * The state the async method now running started from (its pre-image and this replica's
   * tables) with its request as the whole backlog, encoded: what {@link opensWith} compares.
   */
  private startOf(): Uint8Array | undefined {
    const run = this.running;
    if (!this.preImage || run?.t !== 'msg') return undefined;
    return encodeSnapshot({
      app: this.preImage.state,
      outcomes: this.outcomes,
      locks: this.locks,
      pending: this.pending,
      lastNow: this.lastNow,
      applied: this.applied,
      backlog: [run],
      // As a provider's snapshot taken now gives it: the running request not yet counted.
      unapplied: run.msg?.kind === 'request' ? 1 : 0,
    });
  }

  /**
   * The queue continues with `backlog`, then what was delivered after it. Both are in the order
   * and not yet applied here: an outcome query must hear `pending` for them, never `not-found`.
   * A restore deferred behind a stale async method is installed with the new history's
   * deliveries already queued behind it; forgetting them here made a member answer `not-found`
   * for a request it was about to apply, and the client's fence then made that final (RPC seed
   * 32001516, test/sim/FINDINGS.md item 56).
   */
  private queueBacklog(backlog: Delivered[], applied: AppliedView): void {
    const after = this.queue.filter((i) => i.t !== 'restore');
    const waiting = new Map<string, InOrder>();
    for (const item of after) {
      if (item.t !== 'msg' || item.msg?.kind !== 'request') continue;
      const orderedIn = this.inOrder.get(item.msg.id);
      if (orderedIn) waiting.set(item.msg.id, orderedIn);
    }
    this.queue = [...backlog, ...after];
    this.inOrder.clear();
    for (const [id, orderedIn] of waiting) this.inOrder.set(id, orderedIn);
    // The backlog's requests were ordered in the snapshot's applied view or a view the backlog
    // installs before them.
    const views = new Map<number, MemberId[]>([[applied.id, applied.members]]);
    for (const item of backlog) {
      if (item.t === 'view') views.set(item.viewId, item.members);
      if (item.t !== 'msg') continue;
      try {
        const m = decodeGroupMsg(item.payload);
        item.msg = m;
        if (m.kind === 'request') {
          const members = views.get(item.viewId) ?? this.recentViews.get(item.viewId)?.members ?? [];
          this.inOrder.set(m.id, { id: item.viewId, members, issue: m.issue });
        }
      } catch {
        // Skipped when applied, like at every replica.
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Helpers.

  private context(id: string, entry: MethodEntry, view: AppliedView, now: number): CallContext {
    return new ReplicaCallContext(
      id,
      this.service,
      entry.name,
      entry.kind,
      this.frozenView(view),
      this.group?.self ?? '',
      now,
    );
  }

  /** `view` as methods see it: one frozen copy per view object (the applied view changes per view). */
  private frozenView(view: AppliedView): CallContext['view'] {
    if (this.lastFrozen?.from !== view)
      this.lastFrozen = {
        from: view,
        view: Object.freeze({ id: view.id, members: Object.freeze([...view.members]) }),
      };
    return this.lastFrozen.view;
  }

  /**
   * The view `viewId` as requests ordered in it record it: one copy per view, shared by its
   * requests (nobody writes to it; it was copied for every request).
   */
  private orderedIn(viewId: number): AppliedView {
    const view = this.group?.view;
    if (!view || view.id !== viewId) return this.recentViews.get(viewId) ?? { id: viewId, members: [] };
    if (this.lastOrderedIn?.from !== view) {
      this.lastOrderedIn = { from: view, applied: { id: viewId, members: [...view.members] } };
      this.rememberView(this.lastOrderedIn.applied);
    }
    return this.lastOrderedIn.applied;
  }

  private rememberView(v: AppliedView): void {
    this.recentViews.delete(v.id); // a re-founded lineage numbers its views from 1 again
    this.recentViews.set(v.id, v);
    if (this.recentViews.size > RECENT_VIEWS) this.recentViews.delete(this.recentViews.keys().next().value!);
  }

  private requireGroup(): GroupHandle {
    if (!this.group) throw new RpcConfigError('replica is not attached to a group');
    return this.group;
  }

  /** Nothing a client, a peer or a method does may crash the member. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch {
      this.counters.internalErrors++;
    }
  }
}

function sameMembers(a: readonly MemberId[], b: readonly MemberId[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

function wire(e: InterruptedError | OutcomeExpiredError): { name: string; message: string; code: string } {
  return { name: e.name, message: e.message, code: e.code };
}

/** The instance's own `snapshot()`/`restore()`, or else its fields ({@link fieldsState}). */
function defaultAppState(instance: object): AppState {
  const o = instance as { snapshot?: unknown; restore?: unknown };
  const has = [typeof o.snapshot === 'function', typeof o.restore === 'function'];
  if (!has[0] && !has[1]) return fieldsState(instance);
  if (!has[0] || !has[1])
    throw new RpcConfigError(
      `the service defines ${has[0] ? 'snapshot() but no restore()' : 'restore() but no snapshot()'}: state transfer needs both`,
    );
  return {
    snapshot: () => (o.snapshot as () => unknown).call(instance),
    restore: (s) => (o.restore as (s: unknown) => void).call(instance, s),
  };
}
