/**
 * The client side (RMP multi-RPC): a non-member that calls a group through one *contact*
 * member. Read top to bottom, a call goes:
 *
 * 1. {@link TroupeClient.invoke} encodes the arguments, names the request `clientId:counter`
 *    and sends a `call` packet to the contact;
 * 2. the contact answers `accepted` once the request is in the group's order (or `reject`s it);
 * 3. replies come straight from the answering members; the reply mode decides when the call
 *    is complete ({@link TroupeClient.onReply}, {@link TroupeClient.checkComplete}; the rule
 *    for `all` and `majority` is reply-quorum.ts);
 * 4. a timer retransmits unanswered calls with the same id and asks members that owe a reply
 *    for it directly ({@link TroupeClient.tick}), after a timeout that follows the observed
 *    round trip (round-trip.ts);
 * 5. a heartbeat keeps the view current and watches the contact (client-membership.ts); when
 *    it fails, pending calls reject with {@link FailoverError} (or, with `autoReissue`, go to
 *    the next contact: {@link TroupeClient.contactLost}).
 *
 * Its options and their checks are client-options.ts.
 */
import { randomBytes } from 'node:crypto';
import { TroupeError } from '../errors.js';
import { resolveSeeds } from '../launch/seeds.js';
import { type CoreSink, sinkFor } from '../observe/events.js';
import { repliesDiffer } from '../observe/replies.js';
import { endpointOf } from '../stack/member.js';
import { loopbackHint } from '../transport/reach.js';
import type { Transport } from '../transport/types.js';
import { udp } from '../transport/udp.js';
import { type AuthKey, checkSecurity, type KeyRing, PacketAuth, type SecurityOptions } from '../wire/auth.js';
import { AuthConfigError } from '../wire/errors.js';
import type { Endpoint } from '../wire/packet.js';
import { groupIdOf, PacketType } from '../wire/packet.js';
import { CookieJar } from './address-proof.js';
import type { CallOptions, Invoker, Replies, ReplyEntry, ReplyMode } from './api.js';
import { ClientMembership, type ClientView, type Contact } from './client-membership.js';
import {
  CALL_OPTIONS,
  type ClientTimers,
  type ConnectOptions,
  checkCallOptions,
  checkConnectOptions,
  OUTCOME_OPTIONS,
  REAL_TIMERS,
  REISSUE_OPTIONS,
} from './client-options.js';
import { decodeValue, encodeValue } from './codec.js';
import {
  BadRequestIdError,
  CallOptionError,
  ClientClosedError,
  FailoverError,
  fromWireError,
  InterruptedError,
  NoContactError,
  NoMajorityError,
  OutcomeExpiredError,
  OutcomeUnknownError,
  RequestPendingError,
  RpcConfigError,
  TimeoutError,
  UnknownRequestError,
} from './errors.js';
import {
  type AcceptedPacket,
  type CallPacket,
  type ClientPacket,
  encodeClientPacket,
  keylessPacket,
  MAX_BATCHED_CALLS,
  type OutcomePacket,
  type OutcomeQueryPacket,
  type OutcomeStatus,
  type ReplyPacket,
  readClientPacket,
  TO_CLIENT,
} from './protocol.js';
import { quorum } from './reply-quorum.js';
import { parseRequestId, type Result } from './result.js';
import { RoundTrip } from './round-trip.js';
import { ClientSession } from './session.js';

export type { ClientView } from './client-membership.js';
export type { ClientTimers, ConnectOptions } from './client-options.js';
export { isPlainObject } from './client-options.js';

/**
 * What `client.outcome()` reports of a request: a member's answer ({@link OutcomeStatus}), or
 * `unknown`: the client first sent the request before the group's history was lost (a member
 * of the view it follows now has since said another history: the group was founded again), and
 * the group that answers has no record of it. It may have run in the lost
 * history; the client does not send it again unless told `reissue(id, { rerun: true })`
 * (docs/rpc.md, "Recovering a failed call"). Members never send `unknown`: the client makes it
 * of their `not-found`, which after a lost history promises nothing.
 */
export type ClientOutcomeStatus = OutcomeStatus | 'unknown';

/** Options of {@link TroupeClient.reissue}. */
export interface ReissueOptions extends Omit<CallOptions, 'requestId'> {
  /**
   * Send the request again even if it may have run in a history of the group that was lost
   * (`outcome()` said `unknown`; the reissue would otherwise end in {@link OutcomeUnknownError}).
   * The caller decides that running it a second time is acceptable (its effects outside the
   * group are idempotent, or known not to have happened). It then runs at most once in the
   * group's current history, as any reissue.
   */
  rerun?: boolean;
}

/** What the group knows of one request, as `client.outcome()` reports it. */
export interface ClientOutcome {
  requestId: string;
  status: ClientOutcomeStatus;
  /** The member that answered, and its view. */
  member: string;
  viewId: number;
  /** The view the request was ordered in, when known. */
  orderedIn?: number;
  /** For `committed` requests that returned. */
  value?: unknown;
  /** For `committed` requests that threw: the error as the caller would have seen it. */
  error?: TroupeError;
  /**
   * False when the answer may still change without the client doing anything: the request
   * is `pending`, or `not-found` while the member's view still holds the failed contact
   * (whose cast may yet be delivered). True otherwise (`unknown` too: the history that may
   * have run it is gone).
   */
  settled: boolean;
}

/**
 * Counters of one client since it connected ({@link TroupeClient.stats}): what it sent, what it
 * dropped and why, fail-overs and the retransmission timeout it uses now.
 */
export interface ClientStats {
  sent: number;
  retransmits: number;
  /** Packets dropped: undecodable, invalid, or of the wrong direction. */
  malformed: number;
  /** Packets dropped: another group's, or from an address that is no member or seed. */
  foreign: number;
  /** Valid packets about requests no longer pending, and `accepted` of an issue before the call's. */
  stray: number;
  /** `pending`/`not-found` outcome answers to an earlier query of the same id (late or duplicated), not taken. */
  staleOutcomes: number;
  /** Packets dropped: no valid tag under the client's key (or a tag while the client has none). */
  unauthenticated: number;
  /** Views refused: not from the member they name at its address, or not continuing the known view. */
  untrusted: number;
  /** Refusal notices from seeds while looking for a contact (another group or key). */
  refusals: number;
  /** Authentic packets dropped as replays. */
  replayed: number;
  /** Times the client's contact failed and it moved to another member. */
  failovers: number;
  /**
   * The retransmission timeout now, in ms: the smoothed round trip of calls answered without a
   * retransmission plus four deviations, at least `retransmitMs` (docs/rpc.md, "Retransmission").
   */
  rtoMs: number;
}

interface Call {
  id: string;
  service: string;
  method: string;
  args: Uint8Array;
  mode: ReplyMode;
  timeoutMs: number;
  timer: unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  contact: Contact | undefined;
  /** Where the request was ordered: view id and members, in the client's lineage `lineage`. */
  accepted: { viewId: number; members: readonly string[]; ordered: boolean; lineage: number } | undefined;
  /** `all`/`majority`: the members' replies so far (made on the first; `first` never needs one). */
  replies: Map<string, ReplyEntry<unknown>> | undefined;
  /** The encoded values of `replies`' `ok` entries, by member: compared as received ({@link repliesDiffer}). */
  replyBytes: Map<string, Uint8Array> | undefined;
  attempts: number;
  lastSent: number;
  /** When its first packet went out (0: not yet); the start of its round-trip sample. */
  firstSent: number;
  /**
   * The request's issue this call sends: above every issue of the id this client sent before,
   * and, from the clock, above those of an earlier process with this client id. A fence of
   * issues up to this one, asked by `outcome()` once the call is over, refuses every copy of it
   * still on its way, wherever it went (docs/rpc.md, "Issues and fencing").
   */
  issue: number;
  /**
   * The group's history when the request was first sent, by this call or an earlier one of its
   * id (undefined: not sent yet): the client's count of histories ({@link
   * ClientMembership.history}) and the history's number, when a member told it one. Once the
   * client has followed the group into a later history, the group's `not-found` no longer says
   * the request never ran, and the call is not sent again ({@link acrossHistories}); every copy
   * sent carries the number, and a member of another history does not order it.
   */
  history: SentIn | undefined;
  /** When the call started (the client's clock): its deadline is `timeoutMs` after. */
  startedAt: number;
}

/** The group's history a request was first sent in (see {@link Call.history}). */
interface SentIn {
  /** {@link ClientMembership.history} then. */
  count: number;
  /** {@link ClientMembership.historyId} then. */
  id: number | undefined;
}

interface Remembered {
  service: string;
  method: string;
  args: Uint8Array;
  mode: ReplyMode;
  /** The highest issue of it sent: any copy of those may still be on its way into the order. */
  issue: number;
  /** {@link Call.history}: the group's history it was first sent in. */
  history?: SentIn;
  /**
   * Its answer, once the client has it (a reissue completed, or `outcome()` found it final): the
   * request is then settled, the group may drop its outcome, and this copy answers instead.
   */
  answer?: ClientOutcome;
}

interface OutcomeWaiter {
  /** The query's number: only its own answer settles a `pending` or `not-found` (see `q`). */
  q: number;
  resolve: (p: OutcomePacket) => void;
  /** The member's address it was asked at, and the query, to ask again there with a cookie. */
  address: string;
  query: OutcomeQueryPacket;
}

/**
 * Connects to a group as a non-member client. Resolves once a member has sent its view.
 *
 * @example
 * ```ts
 * const client = await connect({ group: 'bank', seeds: ['10.0.0.1:4000', '10.0.0.2:4000'] });
 * const bank = BankClient.connect(client);
 * await bank.deposit('alice', 10);                      // first reply
 * const audits = await bank.all.audit();                // one entry per member of the view
 * try { await bank.withdraw('alice', 5); }
 * catch (e) {
 *   if (e instanceof FailoverError) await client.reissue(e.requestId); // never runs twice
 * }
 * await client.close();
 * ```
 */
export async function connect(options: ConnectOptions): Promise<TroupeClient> {
  checkConnectOptions(options);
  checkSecurity(options as SecurityOptions, 'connect'); // before any socket opens
  const resolve = options.resolve ?? resolveSeeds;
  const seeds = await resolve(options.seeds);
  const transport = options.transport ?? (await udp({ host: options.host ?? '127.0.0.1' }));
  const client = new TroupeClient(transport, { ...options, resolve }, options.transport === undefined, seeds);
  try {
    await client.ready();
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}

/** `call`'s replies so far, the map made on the first (only `all`/`majority` calls get one). */
function repliesOf(call: Call): Map<string, ReplyEntry<unknown>> {
  if (!call.replies) call.replies = new Map();
  return call.replies;
}

/** A service or method name as the wire takes it: a non-empty string of at most 256 characters. */
function checkName(what: 'service' | 'method', v: unknown): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256)
    throw new CallOptionError(what, `${what} must be a non-empty string of at most 256 characters`);
}

/**
 * A connection to an object group from outside it (a non-member client), made by
 * {@link connect}. Generated stubs call through it (`BankClient.connect(client)`); it also asks
 * any member for a request's outcome and reissues a request exactly once after a fail-over.
 * One client keeps one session at the group: requests are numbered, retransmitted until
 * answered, and a duplicate never runs twice.
 *
 * @example
 * ```ts
 * const client = await connect({ group: 'bank', seeds, key });
 * const bank = BankClient.connect(client);
 * try {
 *   await bank.deposit('alice', 10);
 * } catch (e) {
 *   if (!(e instanceof FailoverError)) throw e;
 *   const { status } = await client.outcome(e.requestId); // 'committed', 'not-found', ...
 *   if (status !== 'committed') await client.reissue(e.requestId);
 * }
 * console.log(client.view?.members, client.stats().retransmits);
 * await client.close();
 * ```
 */
export class TroupeClient implements Invoker {
  readonly clientId: string;
  private readonly groupId: number;
  private readonly endpoint: Endpoint;
  private readonly opts: Required<
    Omit<
      ConnectOptions,
      | 'transport'
      | 'host'
      | 'clientId'
      | 'timers'
      | 'node'
      | 'key'
      | 'insecure'
      | 'encrypt'
      | 'observe'
      | 'resolve'
    >
  >;
  /** Which of this client's requests are unsettled: the watermark each `call` carries. */
  private readonly session: ClientSession;
  /** The view, the contact and the search for one (client-membership.ts). */
  private readonly membership: ClientMembership;
  private readonly calls = new Map<string, Call>();
  /** Without a key: the members' cookies for this client's address (address-proof.ts). */
  private readonly cookies = new CookieJar();
  /** Members of the view asked for their cookie ({@link collectCookies}), and when. */
  private readonly cookieAsked = new Map<string, number>();
  private readonly remembered = new Map<string, Remembered>();
  /** Ids handed out by {@link newRequestId} and not yet used by a call. */
  private readonly reserved = new Set<string>();
  private readonly outcomeWaiters = new Map<string, OutcomeWaiter[]>();
  /** Outcome queries asked so far: each query's number (`OutcomeQueryPacket.q`). */
  private outcomeQueries = 0;
  private readonly timers: unknown[] = [];
  private readonly time: ClientTimers;
  /** Signs what this client sends and verifies what it receives; undefined without a key. */
  private readonly auth: PacketAuth | undefined;
  private closed = false;
  private readonly observe: CoreSink;
  private readonly counters: ClientStats = {
    sent: 0,
    retransmits: 0,
    malformed: 0,
    foreign: 0,
    stray: 0,
    staleOutcomes: 0,
    failovers: 0,
    unauthenticated: 0,
    replayed: 0,
    untrusted: 0,
    refusals: 0,
    rtoMs: 0,
  };
  /** Calls of this turn not yet sent, per address (see {@link queueCall}). */
  private callOutbox = new Map<string, { calls: CallPacket[]; bytes: number }>();
  /** Round-trip estimate: the retransmission timeout follows it. */
  private readonly roundTrip = new RoundTrip();

  constructor(
    private readonly transport: Transport,
    options: ConnectOptions,
    private readonly ownsTransport: boolean,
    /** `options.seeds` already resolved (by {@link connect}); default: they are addresses. */
    resolvedSeeds?: readonly string[],
  ) {
    this.clientId = options.clientId ?? randomBytes(8).toString('hex');
    if (!parseRequestId(`${this.clientId}:1`))
      throw new RpcConfigError(`client id '${this.clientId}' is invalid`);
    this.groupId = groupIdOf(options.group);
    this.endpoint = { node: options.node ?? randomBytes(4).readUInt32BE(0), inc: 0 };
    this.time = options.timers ?? REAL_TIMERS;
    this.session = new ClientSession(this.clientId, this.time.now());
    this.auth =
      options.key === undefined
        ? undefined
        : new PacketAuth(options.key, { encrypt: options.encrypt === true });
    checkConnectOptions(options);
    this.opts = {
      group: options.group,
      seeds: [...options.seeds],
      timeoutMs: options.timeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      retransmitMs: options.retransmitMs ?? 100,
      heartbeatMs: options.heartbeatMs ?? 250,
      contactTimeoutMs: options.contactTimeoutMs ?? 1_000,
      autoReissue: options.autoReissue ?? false,
      remember: options.remember ?? 1024,
    };
    this.membership = new ClientMembership(
      {
        group: options.group,
        seeds: [...options.seeds],
        contactTimeoutMs: this.opts.contactTimeoutMs,
        heartbeatMs: this.opts.heartbeatMs,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        auth: this.auth,
        counters: this.counters,
        time: this.time,
        maxDatagram: () => transport.maxDatagram,
        silenceHint: () => loopbackHint(transport.address, resolvedSeeds ?? options.seeds, 'This client'),
        nonce: () => helloNonce(randomBytes(7)),
        send: (to, p, addressed) => this.send(to, p, addressed),
        closed: () => this.closed,
        contactChosen: (c) => {
          for (const call of this.calls.values()) if (!call.contact) this.sendCall(call, c);
        },
        viewAdopted: () => {
          for (const call of this.calls.values()) this.checkComplete(call);
          this.collectCookies();
        },
        contactLost: (c) => this.contactLost(c),
      },
      resolvedSeeds ?? options.seeds,
      options.resolve,
    );
    transport.onPacket((bytes, from) => {
      try {
        this.receive(bytes, from);
      } catch {
        this.counters.malformed++;
      }
    });
    this.observe = sinkFor(options.observe);
    this.observe.event({ type: 'client', client: this });
    const every = (ms: number, fn: () => void) => this.timers.push(this.time.every(ms, fn));
    every(this.opts.retransmitMs, () => this.tick());
    every(this.opts.heartbeatMs, () => {
      this.membership.heartbeat();
      this.collectCookies();
    });
    this.membership.findContact();
  }

  /** The view last learned from the group. */
  get view(): ClientView | undefined {
    return this.membership.view;
  }

  /** The member this client sends its calls to. */
  get contactMember(): string | undefined {
    return this.membership.contact?.member;
  }

  /** This client's transport address (where members send replies). */
  get address(): string {
    return this.transport.address;
  }

  /**
   * Resolves once a contact answered (a view is known) and, with `members`, once the view the
   * client knows has at least that many members: a script that starts its replicas and this
   * client together waits with `ready({ members: 3 })` until all three are in, so that an `all`
   * call has their three replies. Rejects with {@link NoContactError} if that did not happen
   * within `timeoutMs` (default `connectTimeoutMs`), or as soon as the seeds that answered all
   * refused this client: {@link ForeignGroupError} (they are another group's members) or
   * {@link KeyMismatchError} (another key, or one side has none). A number is `timeoutMs`.
   */
  ready(options: number | { timeoutMs?: number; members?: number } = {}): Promise<void> {
    return this.membership.ready(options);
  }

  // ---------------------------------------------------------------------------------------
  // 1. Calls.

  /**
   * Calls `service.method(...args)` on the group. The result depends on the reply mode:
   * `first` → the value; `all`/`majority` → {@link Replies}; `none` → `undefined` once ordered.
   * Rejects with the remote error, {@link FailoverError}, {@link TimeoutError} or
   * {@link ClientClosedError}.
   */
  invoke(service: string, method: string, args: unknown[], opts: CallOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    let encoded: Uint8Array;
    try {
      checkName('service', service);
      checkName('method', method);
      if (!Array.isArray(args)) throw new CallOptionError('args', 'args must be an array');
      checkCallOptions(opts, CALL_OPTIONS);
      encoded = encodeValue(args);
      // A call travels in one datagram. A larger one the transport dropped (EMSGSIZE over UDP,
      // counted), and the call ended at its timeout with a TimeoutError that said nothing of why.
      // The limit is the smaller of our transport's and the members' (a member over TCP with
      // smaller frames than ours dropped the connection, and the call timed out all the same).
      const max = this.membership.maxPacket();
      const room = max - CALL_ROOM - 3 * (service.length + method.length);
      if (encoded.byteLength > room)
        throw new TroupeError(
          'MESSAGE_TOO_LARGE',
          `${service}.${method}: ${encoded.byteLength} bytes of arguments do not fit one call packet (at most ${room}: ${max < this.transport.maxDatagram ? `the group's members take packets of at most ${max} bytes` : 'over this transport'})`,
        );
    } catch (e) {
      return Promise.reject(e);
    }
    return this.start({
      id: opts.requestId ?? this.session.next(),
      service,
      method,
      args: encoded,
      mode: opts.reply ?? 'first',
      timeoutMs: opts.timeoutMs ?? this.opts.timeoutMs,
    });
  }

  /**
   * A fresh request id of this client, for a call made with `{ requestId }`: the caller knows
   * the id of a call that succeeds too (for logs and audits), and the service need not record it.
   * The id counts as unsettled (the group keeps what it learns of it) until a call with it ends.
   *
   * @example
   * ```ts
   * const requestId = client.newRequestId();
   * const balance = await bank.deposit('alice', 10, { requestId });
   * audit.log({ requestId, balance });
   * ```
   */
  newRequestId(): string {
    const id = this.session.next();
    this.session.hold(id);
    this.reserved.add(id);
    return id;
  }

  /**
   * Sends a failed or timed-out request again under its own id. The group never runs a request
   * twice in one history: if it ran, the recorded reply comes back; if it did not, it runs now.
   *
   * A request first sent before the group's history was lost (a member of the view the client
   * follows has since said another history of the group) is not sent again: the client asks
   * the group's outcome instead, and ends with its recorded result if the group has one, with
   * {@link OutcomeUnknownError} if it has none (it may have run in the lost history), or with
   * {@link TimeoutError} if no final answer came by the deadline. `{ rerun: true }` sends it all
   * the same (docs/rpc.md, "Recovering a failed call").
   */
  reissue(requestId: string, opts: ReissueOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClientClosedError(requestId));
    try {
      checkCallOptions(opts, REISSUE_OPTIONS);
    } catch (e) {
      return Promise.reject(e);
    }
    const r = this.remembered.get(requestId);
    if (!r) return Promise.reject(new UnknownRequestError(requestId));
    if (r.answer) return replay(r.answer);
    const mode = opts.reply ?? r.mode;
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    if (this.lost(requestId)) {
      if (opts.rerun !== true) return this.recoverLost(requestId, mode, timeoutMs);
      // The caller's decision: the request is this history's from here on.
      r.history = this.sentIn();
    }
    return this.start({
      id: requestId,
      service: r.service,
      method: r.method,
      args: r.args,
      mode,
      timeoutMs,
    });
  }

  /**
   * Whether `id` was first sent in an earlier history of the group than the one the client
   * follows now ({@link Call.history}): the group's `not-found` for it promises nothing.
   */
  private lost(id: string): boolean {
    const sent = this.calls.get(id)?.history ?? this.remembered.get(id)?.history;
    return sent !== undefined && sent.count < this.membership.history;
  }

  /** The history a request sent now is sent in. */
  private sentIn(): SentIn {
    return { count: this.membership.history, id: this.membership.historyId };
  }

  /**
   * A call of a request first sent in a lost history of the group, due to be sent again (a
   * fail-over with `autoReissue`, a reissue that waited for a contact): it is not sent; the call
   * ends as {@link recoverLost} finds, within what is left of its deadline.
   */
  private acrossHistories(call: Call): void {
    this.take(call.id);
    this.remember(call);
    const left = Math.max(1, call.startedAt + call.timeoutMs - this.time.now());
    this.recoverLost(call.id, call.mode, left).then(call.resolve, call.reject);
  }

  /**
   * What becomes of a request first sent in a lost history, without sending it: the group's
   * outcome. `committed` (the group's start state held it), `interrupted` or `expired` end it as
   * a reissue would (an `all`/`majority` call is then reissued: every member answers it from its
   * table, never runs it); `unknown` ends it in {@link OutcomeUnknownError}; no final answer by
   * the deadline, in {@link TimeoutError}.
   */
  private async recoverLost(id: string, mode: ReplyMode, timeoutMs: number): Promise<unknown> {
    const started = this.time.now();
    // No member answering by the deadline ends the call as any call's deadline does: with its id.
    const o = await this.outcome(id, { timeoutMs }).catch((e: unknown) => {
      throw e instanceof NoContactError
        ? new TimeoutError(id, timeoutMs, 'no member answered the outcome query')
        : e;
    });
    if (o.status === 'unknown') throw new OutcomeUnknownError(id);
    if (o.status === 'interrupted' || o.status === 'expired') return replay(o);
    if (o.status !== 'committed')
      throw new TimeoutError(
        id,
        timeoutMs,
        `first sent before the group's history was lost; the group said ${o.status}, not yet final`,
      );
    if (mode === 'none') return undefined;
    if (mode === 'first') return replay(o);
    const r = this.remembered.get(id);
    if (!r) throw new UnknownRequestError(id);
    // Committed in this history: a reissue is answered from the table, by every member.
    r.history = this.sentIn();
    return this.start({
      id,
      service: r.service,
      method: r.method,
      args: r.args,
      mode,
      timeoutMs: Math.max(1, started + timeoutMs - this.time.now()),
    });
  }

  private start(
    c: Pick<Call, 'id' | 'service' | 'method' | 'args' | 'mode' | 'timeoutMs'>,
  ): Promise<unknown> {
    if (!parseRequestId(c.id)) return Promise.reject(new BadRequestIdError(c.id));
    if (this.calls.has(c.id)) return Promise.reject(new RequestPendingError(c.id));
    const settled = new Promise((resolve, reject) => {
      // Every field spelled out (no spread of `c`): one object shape for every call, so the
      // stores below and in sendCall stay on V8's fast path (the spread and those stores were
      // 10 % of an in-process profile's samples, docs/performance.md).
      const call: Call = {
        id: c.id,
        service: c.service,
        method: c.method,
        args: c.args,
        mode: c.mode,
        timeoutMs: c.timeoutMs,
        timer: undefined,
        resolve,
        reject,
        contact: undefined,
        accepted: undefined,
        replies: undefined,
        replyBytes: undefined,
        attempts: 0,
        lastSent: 0,
        firstSent: 0,
        issue: this.nextIssue(c.id),
        history: this.remembered.get(c.id)?.history,
        startedAt: this.time.now(),
      };
      call.timer = this.time.after(c.timeoutMs, () => this.expire(call));
      this.calls.set(c.id, call);
      // An id from newRequestId() is held already: its call takes that hold over.
      if (!this.reserved.delete(c.id)) this.session.hold(c.id);
      // A reissued call stays remembered: reissuing it again must get the recorded reply too.
      if (this.membership.contact) this.sendCall(call, this.membership.contact);
    });
    if (this.observe.wants('call'))
      this.observe.event({
        type: 'call',
        id: c.id,
        service: c.service,
        method: c.method,
        mode: c.mode,
        settled,
      });
    return settled;
  }

  /**
   * The next issue of `id`: above the last one this client started or saw fenced, and at least
   * the clock's milliseconds, so that a later process with the same client id (a pinned
   * `clientId`), or this one after it forgot the id, never reuses a number an old copy may
   * still carry. Recorded at once: `outcome()` must not fence below it, whatever ends the call.
   */
  private nextIssue(id: string): number {
    const r = this.remembered.get(id);
    const issue = Math.max((r?.issue ?? 0) + 1, Math.floor(this.time.now()));
    if (r) r.issue = issue;
    return issue;
  }

  private sendCall(call: Call, to: Contact): void {
    if (call.history === undefined) call.history = this.sentIn();
    else if (call.history.count < this.membership.history) {
      this.acrossHistories(call);
      return;
    }
    const s = this.session.watermark(call.id);
    call.contact = to;
    call.lastSent = this.time.now();
    if (call.firstSent === 0) call.firstSent = call.lastSent;
    this.queueCall(to.address, {
      kind: 'call',
      id: call.id,
      service: call.service,
      method: call.method,
      args: call.args,
      mode: call.mode,
      to: to.member,
      settled: s?.settled,
      keep: s?.keep,
      issue: call.issue,
      ...(call.history.id !== undefined ? { history: call.history.id } : {}),
    });
  }

  /**
   * Sends `p` at the end of this turn, with the other calls to `address` made in it: one `call`
   * packet alone, a `calls` packet for several (its contact orders them together). Callers that
   * react to one `replies` packet start their next calls in the same turn; each packet costs a
   * syscall here and a receive, a decode and a check at the contact.
   */
  private queueCall(address: string, p: CallPacket): void {
    let q = this.callOutbox.get(address);
    // The whole call counts, not only its arguments, and a packet must fit the transport's datagram.
    const size = callSize(p);
    const limit = Math.min(MAX_CALLS_BYTES, this.membership.maxPacket() - CALLS_HEADROOM);
    if (q && (q.calls.length >= MAX_BATCHED_CALLS || q.bytes + size > limit)) {
      this.sendCalls(address, q.calls);
      q = undefined;
    }
    if (!q) {
      if (this.callOutbox.size === 0) queueMicrotask(() => this.flushCalls());
      q = { calls: [], bytes: 0 };
      this.callOutbox.set(address, q);
    }
    q.calls.push(p);
    q.bytes += size;
  }

  private flushCalls(): void {
    const out = this.callOutbox;
    this.callOutbox = new Map();
    for (const [address, q] of out) this.sendCalls(address, q.calls);
  }

  private sendCalls(address: string, calls: CallPacket[]): void {
    this.send(address, calls.length === 1 ? calls[0]! : { kind: 'calls', calls });
  }

  /**
   * Asks the group what became of `requestId` (any reachable member answers from its table).
   * `unknown` for a request this client first sent before the group's history was lost, which
   * the group answering now has no record of (see {@link ClientOutcomeStatus}).
   */
  async outcome(requestId: string, opts: { timeoutMs?: number } = {}): Promise<ClientOutcome> {
    if (this.closed) throw new ClientClosedError(requestId);
    if (typeof requestId !== 'string' || !parseRequestId(requestId)) throw new BadRequestIdError(requestId);
    checkCallOptions(opts, OUTCOME_OPTIONS);
    // Settled here: the group may have dropped it since (the client told it so). Read again each
    // round: a reissue running meanwhile may settle it, and the client's next watermark then lets
    // the group drop the outcome, whose answer would read `expired` (FINDINGS 70).
    const known = () => {
      const a = this.remembered.get(requestId)?.answer;
      return a && { ...a };
    };
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const deadline = this.time.now() + timeoutMs;
    let last: OutcomePacket | undefined;
    // How long one query waits for its answer: four ticks, or the round trip calls observed if
    // longer, doubled after each query that went unanswered (as a call's retransmissions back off).
    let wait = Math.max(this.opts.retransmitMs * 4, this.rto());
    for (;;) {
      const settled = known();
      if (settled) return settled;
      if (this.time.now() >= deadline) break;
      const to =
        this.membership.contact ??
        (await this.ready(Math.max(1, deadline - this.time.now())).then(() => this.membership.contact));
      if (!to) break;
      // The issues it gave up on: all it sent, or, while a call of it is still running here,
      // those before that call's (read each round: a reissue may have started meanwhile).
      const gaveUp = () => {
        const live = this.calls.get(requestId);
        return live ? live.issue - 1 : (this.remembered.get(requestId)?.issue ?? 0);
      };
      const p = await this.askOutcome(
        requestId,
        to.address,
        Math.min(wait, deadline - this.time.now()),
        gaveUp(),
      );
      if (!p) {
        // Unanswered: the answer may be on its way still. A `not-found` or `pending` is taken only
        // from the query it answers, so with a fixed wait shorter than the round trip none ever
        // was (FINDINGS 228).
        wait *= 2;
        continue;
      }
      const answered = known();
      if (answered) return answered;
      last = p;
      // Issues fenced above what this client knows of (another process with its id asked): its
      // next issue goes above them.
      const r = this.remembered.get(requestId);
      if (r && p.fencedUpTo !== undefined && p.fencedUpTo > r.issue) r.issue = p.fencedUpTo;
      const live = this.calls.has(requestId);
      // First sent before the group's history was lost: the group that answers knows nothing of
      // it, which says nothing of the lost history it may have run in.
      if (p.status === 'not-found' && this.lost(requestId))
        return { ...this.toOutcome(p, true), status: 'unknown' };
      // Another process's id, or one forgotten: a copy may be on its way, and this client cannot
      // name its issues to fence them. Such a `not-found` is never known final.
      if (p.status === 'not-found' && !live && gaveUp() === 0) return this.toOutcome(p, false);
      // `not-found` is final once every issue sent is fenced as the answering member applied the
      // order: a copy of those ordered before the fence would be known there (applied, or
      // `pending`), and one ordered after it is refused at every replica, however late it
      // arrives (test/sim/FINDINGS.md item 60). A call still running here is never fenced.
      // Nor from a member outside the view the client knows: without a key, a new incarnation at
      // the contact's address answers, of a group founded again that the client has not yet
      // followed (its `not-found` would be a lost history's, final only in the new one).
      const stranger = !(this.membership.view?.members.includes(p.member) ?? false);
      const waiting = p.status === 'not-found' && (live || stranger || (p.fencedUpTo ?? 0) < gaveUp());
      if (p.status !== 'pending' && !waiting) {
        const o = this.toOutcome(p, true);
        // Final answers settle it; a settled not-found does not (the caller is to reissue it).
        if (o.status !== 'not-found') this.settle(requestId, o);
        return o;
      }
      await new Promise<void>((r) => this.time.after(this.opts.retransmitMs, r));
    }
    if (last) return this.toOutcome(last, false);
    throw new TimeoutError(requestId, timeoutMs, 'no member answered the outcome query');
  }

  private askOutcome(
    id: string,
    address: string,
    waitMs: number,
    upTo: number,
  ): Promise<OutcomePacket | undefined> {
    return new Promise((resolve) => {
      const list = this.outcomeWaiters.get(id) ?? [];
      const q = ++this.outcomeQueries;
      const query: OutcomeQueryPacket = { kind: 'outcome?', id, q, upTo };
      const waiter: OutcomeWaiter = {
        q,
        address,
        query,
        resolve: (p) => {
          this.time.clear(t);
          resolve(p);
        },
      };
      const t = this.time.after(Math.max(1, waitMs), () => {
        const l = this.outcomeWaiters.get(id);
        if (l) {
          const i = l.indexOf(waiter);
          if (i >= 0) l.splice(i, 1);
          if (l.length === 0) this.outcomeWaiters.delete(id);
        }
        resolve(undefined);
      });
      list.push(waiter);
      this.outcomeWaiters.set(id, list);
      this.send(address, query);
    });
  }

  private toOutcome(p: OutcomePacket, settled: boolean): ClientOutcome {
    const o: ClientOutcome = {
      requestId: p.id,
      status: p.status,
      member: p.member,
      viewId: p.viewId,
      settled,
    };
    if (p.orderedIn !== undefined) o.orderedIn = p.orderedIn;
    if (p.result?.ok) o.value = decodeValue(p.result.value);
    else if (p.result) o.error = fromWireError(p.result.error, p.id, p.member);
    return o;
  }

  // ---------------------------------------------------------------------------------------
  // 2–3. Receiving: validate everything, then dispatch by kind.

  private receive(bytes: Uint8Array, from: string): void {
    if (bytes.length > 2 && bytes[2] === PacketType.Discovery) {
      this.membership.onRefusal(bytes, from);
      return;
    }
    const decoded = readClientPacket(bytes, this.groupId, this.auth, this.counters, this.endpoint);
    if (!decoded) return;
    this.membership.answeredBy(from);
    const packet = decoded.packet;
    if (!TO_CLIENT.has(packet.kind)) {
      this.counters.malformed++;
      return;
    }
    if (!this.membership.knownAddress(from)) {
      this.counters.foreign++;
      return;
    }
    if (packet.kind === 'pad') {
      // Not heard: a notice names no member, and without a key anyone may send one.
      this.membership.onPad(packet.need, from);
      return;
    }
    if (packet.kind === 'cookie') {
      // Not heard either: a notice names no member.
      if (!this.auth) this.onCookie(from, packet.cookie);
      return;
    }
    if (packet.kind !== 'view')
      this.membership.heardFrom(from, 'member' in packet ? packet.member : undefined);
    switch (packet.kind) {
      case 'view': {
        // Without a key: the hello padding for a view that size, and the member's cookie for us,
        // from a view that speaks for its member (one naming another address is forged) and
        // answers a hello of ours (one spoofed from a member's address carried a bogus cookie
        // that left our calls there unserved: review36b).
        let firstCookie = false;
        if (
          !this.auth &&
          this.membership.speaksForItself(packet, from, decoded.sender) &&
          this.membership.answers(packet, from)
        ) {
          this.membership.viewBytes(bytes.length);
          if (packet.cookie) firstCookie = this.cookies.fromView(from, packet.cookie, this.time.now());
        }
        this.membership.onView(packet, from, decoded.sender);
        // Our first cookie from the contact: a hello with it makes us one of its clients (told
        // each new view at once); one without it was answered, not remembered.
        if (firstCookie && this.membership.contact?.address === from)
          this.send(from, this.membership.hello(from));
        return;
      }
      case 'accepted':
        this.onAccepted(packet);
        return;
      case 'reply':
        this.onReply(packet);
        return;
      case 'replies': {
        const { member, viewId, members } = packet;
        for (const { id, result } of packet.replies)
          this.onReply({ kind: 'reply', id, member, viewId, members, result });
        return;
      }
      case 'reject': {
        // The decoder refuses a reject that carries a value (FINDINGS 264).
        if (packet.result.ok) return;
        // A call a member said is in the order was not refused before ordering: it runs, and its
        // reply or outcome ends it. A reject then is forged (without a key, by a party on the
        // path) or a contact's that could not decode it (a release without the method): taken,
        // the caller heard "never ran" of a call that ran (FINDINGS 264).
        if (this.calls.get(packet.id)?.accepted?.ordered) {
          this.counters.stray++;
          return;
        }
        const call = this.take(packet.id);
        if (!call) return;
        const error = fromWireError(packet.result.error, packet.id, packet.member);
        // Refused before ordering, here and by every replica that would apply it: final.
        this.settle(call.id, {
          requestId: call.id,
          status: 'committed',
          member: packet.member,
          viewId: this.membership.view?.id ?? 0,
          error,
          settled: true,
        });
        call.reject(error);
        return;
      }
      case 'outcome':
        this.onOutcome(packet);
        return;
    }
  }

  private onAccepted(p: AcceptedPacket): void {
    const call = this.calls.get(p.id);
    // A copy of an earlier issue in the order may yet be refused by a fence: not this call's.
    if (!call || (p.issue !== undefined && p.issue < call.issue)) {
      this.counters.stray++;
      return;
    }
    // An empty member list says the contact did not know the ordering view's members: a reply
    // (or a later `accepted`) names them.
    if (!call.accepted || call.accepted.members.length === 0)
      call.accepted = {
        viewId: p.viewId,
        members: p.members,
        ordered: p.ordered,
        lineage: this.membership.lineage,
      };
    call.attempts = 0;
    if (call.mode === 'none') {
      this.take(p.id)?.resolve(undefined);
      // In the order is all a `none` call waits for: a reissued one ends as a first call does,
      // unremembered. Kept, it held the client's watermark below it (FINDINGS 91).
      this.forget(p.id);
      return;
    }
    this.checkComplete(call);
  }

  private onReply(p: ReplyPacket): void {
    const call = this.calls.get(p.id);
    if (!call) {
      this.counters.stray++;
      return;
    }
    this.addReply(call, p.member, p.result, p.viewId, p.members);
  }

  private onOutcome(p: OutcomePacket): void {
    const waiters = this.outcomeWaiters.get(p.id);
    if (waiters) {
      // `committed`, `interrupted` and `expired` stay true; `pending` and `not-found` were true
      // when the member answered, so only the query they answer takes them: a late copy of an
      // answer to an earlier query may predate this query's reissued call at that member.
      const lasting = p.status !== 'pending' && p.status !== 'not-found';
      const taking = waiters.filter((w) => lasting || p.q === undefined || w.q === p.q);
      if (taking.length === 0) this.counters.staleOutcomes++;
      const rest = waiters.filter((w) => !taking.includes(w));
      if (rest.length > 0) this.outcomeWaiters.set(p.id, rest);
      else this.outcomeWaiters.delete(p.id);
      for (const w of taking) w.resolve(p);
    }
    const call = this.calls.get(p.id);
    if (!call) return;
    // `members` are the answering member's view's (`viewId`), not the ordering view's
    // (`orderedIn`): that pair is the one to count departed members against (FINDINGS 93).
    if (p.status === 'committed' && p.result)
      this.addReply(call, p.member, p.result, p.orderedIn ?? p.viewId, p.members, p.viewId);
    else if (p.status === 'interrupted' || p.status === 'expired') {
      const code = p.status === 'interrupted' ? 'INTERRUPTED' : 'OUTCOME_EXPIRED';
      this.addReply(
        call,
        p.member,
        { ok: false, error: { name: 'Error', message: `request ${p.id} ${p.status}`, code } },
        p.orderedIn ?? p.viewId,
        p.members,
        p.viewId,
      );
    }
  }

  private addReply(
    call: Call,
    member: string,
    result: Result,
    viewId: number,
    members: readonly string[],
    /** The view `members` belong to, when it is not `viewId` (an outcome answer's). */
    membersViewId = viewId,
  ): void {
    let entry: ReplyEntry<unknown>;
    if (result.ok) {
      let value: unknown;
      try {
        value = decodeValue(result.value);
      } catch {
        this.counters.malformed++;
        return;
      }
      entry = { member, status: 'ok', value };
    } else {
      const { name, message, code } = result.error;
      entry = { member, status: 'error', error: { name, message, code } };
    }
    if (call.mode === 'first' || call.mode === 'none') {
      this.sampleRtt(call);
      this.take(call.id);
      const answer: ClientOutcome = {
        requestId: call.id,
        status: 'committed',
        member,
        viewId,
        settled: true,
      };
      if (entry.status === 'ok') answer.value = entry.value;
      else {
        answer.error = fromWireError((result as Extract<Result, { ok: false }>).error, call.id, member);
        if (entry.error.code === 'INTERRUPTED') answer.status = 'interrupted';
        if (entry.error.code === 'OUTCOME_EXPIRED') answer.status = 'expired';
      }
      // Whether an interrupted call ran is unknown to its caller, like a failed-over one: keep it
      // for outcome() and reissue() (which answer `interrupted` again, never run it).
      if (answer.status === 'interrupted') this.remember(call, answer);
      else this.settle(call.id, answer);
      if (answer.error) call.reject(answer.error);
      else call.resolve(answer.value);
      return;
    }
    if (!call.accepted || call.accepted.members.length === 0)
      call.accepted = { viewId: membersViewId, members, ordered: true, lineage: this.membership.lineage };
    if (!call.accepted.members.includes(member)) return; // not of the view the request was ordered in
    repliesOf(call).set(member, entry);
    if (result.ok) {
      call.replyBytes ??= new Map();
      call.replyBytes.set(member, result.value);
    } else call.replyBytes?.delete(member);
    this.checkComplete(call);
  }

  /** `all`: every member of the ordering view answered or failed. `majority`: more than half answered. */
  private checkComplete(call: Call): void {
    if (!call.accepted || (call.mode !== 'all' && call.mode !== 'majority')) return;
    const members = call.accepted.members;
    if (members.length === 0) return; // not known yet: the replies name them
    const got = repliesOf(call);
    for (const m of members)
      if (!got.has(m) && this.membership.departed(m, call.accepted!))
        got.set(m, { member: m, status: 'failed' });
    const q = quorum(call.mode, members, got);
    if (q === undefined) return;
    if ('noMajority' in q) {
      this.take(call.id);
      // Whether it ran is unknown here, as after a fail-over (the survivors may hold its outcome):
      // kept for outcome() and reissue(), and unsettled, so the group keeps what it knows of it.
      this.remember(call);
      const { failed, of } = q.noMajority;
      call.reject(
        new NoMajorityError(
          call.id,
          `request ${call.id}: ${failed} of ${of} members failed, no majority can answer`,
        ),
      );
      return;
    }
    const replies = this.replies(call, q.members);
    this.sampleRtt(call);
    this.take(call.id);
    if (!replies.entries.some((e) => e.status === 'ok' || e.status === 'error')) {
      // Every member of the ordering view left without an answer reaching the client: whether
      // it ran is unknown here, as after a fail-over (members that joined since may hold its
      // outcome), so it stays unsettled for outcome() and reissue(). Settled, the client's
      // next watermark let the group drop the outcome (FINDINGS 94).
      this.remember(call);
      call.resolve(replies);
      return;
    }
    this.settle(call.id, committedReplies(replies));
    call.resolve(replies);
  }

  private replies(call: Call, members: readonly string[]): Replies<unknown> {
    const entries = members.map((m) => call.replies?.get(m) ?? ({ member: m, status: 'timeout' } as const));
    const r: Replies<unknown> = { requestId: call.id, viewId: call.accepted!.viewId, entries };
    // Replicas that applied the same order answer alike; unordered queries may differ by timing.
    if (call.accepted!.ordered && repliesDiffer(entries, (e) => call.replyBytes?.get(e.member))) {
      r.divergent = true;
      this.observe.event({
        type: 'divergent-replies',
        id: call.id,
        service: call.service,
        method: call.method,
        entries,
      });
    }
    return r;
  }

  // ---------------------------------------------------------------------------------------
  // 4. Retransmission and missing replies.

  /** The retransmission timeout: the observed round trip and its deviation, at least `retransmitMs`. */
  private rto(): number {
    return this.roundTrip.timeout(this.opts.retransmitMs);
  }

  /** A completed call's round trip, from its first packet ({@link RoundTrip.sample}). */
  private sampleRtt(call: Call): void {
    if (call.firstSent !== 0) this.roundTrip.sample(this.time.now() - call.firstSent);
  }

  private tick(): void {
    const now = this.time.now();
    const rto = this.rto();
    for (const call of this.calls.values()) {
      if (!call.contact) continue;
      // At most a quarter of the call's deadline: a call keeps a few chances to be sent again.
      const base = Math.max(this.opts.retransmitMs, Math.min(rto, call.timeoutMs / 4));
      const backoff = base * 2 ** Math.min(call.attempts, 4);
      if (now - call.lastSent < backoff) continue;
      call.attempts++;
      this.counters.retransmits++;
      if (call.accepted?.ordered && call.mode === 'first' && call.attempts % 2 === 0) {
        // Every other time, ask another member of the ordering view: the reply may keep being lost on one path.
        const others = call.accepted.members.filter((m) => m !== call.contact?.member);
        const address = this.membership.addressOf(
          others[(call.attempts / 2) % Math.max(1, others.length)] ?? '',
        );
        if (address) {
          call.lastSent = now;
          this.send(address, { kind: 'outcome?', id: call.id });
          continue;
        }
      }
      if (!call.accepted || call.mode === 'first' || call.mode === 'none') {
        this.sendCall(call, call.contact);
        continue;
      }
      call.lastSent = now;
      // all/majority: ask each member that owes a reply, directly.
      for (const m of call.accepted.members) {
        if (call.replies?.has(m)) continue;
        const address = this.membership.addressOf(m);
        if (!address) continue;
        if (call.accepted.ordered) this.send(address, { kind: 'outcome?', id: call.id });
        else {
          const s = this.session.watermark(call.id);
          this.send(address, {
            kind: 'call',
            id: call.id,
            service: call.service,
            method: call.method,
            args: call.args,
            mode: 'first',
            to: m,
            settled: s?.settled,
            keep: s?.keep,
            issue: call.issue,
          });
        }
      }
      this.checkComplete(call);
    }
  }

  private expire(call: Call): void {
    if (this.calls.get(call.id) !== call) return;
    this.take(call.id);
    // `all` resolves with what came, a `timeout` entry per silent member; when no member of the
    // ordering view is known there is nothing to list, and it times out like the others.
    if (call.mode === 'all' && call.accepted && call.accepted.members.length > 0) {
      const replies = this.replies(call, call.accepted.members);
      // A member's answer is the group's (replicas that applied one order answer alike): the
      // caller has its result, so the request is settled, as a complete `all` call is. Kept
      // unsettled, it held the client's watermark below it until `remember` more calls failed,
      // and the group kept every later outcome of this client meanwhile (FINDINGS 91).
      const answered = replies.entries.some((e) => e.status === 'ok' || e.status === 'error');
      this.remember(call, answered ? committedReplies(replies) : undefined);
      call.resolve(replies);
      return;
    }
    this.remember(call);
    const where = call.accepted ? 'accepted into the order, reply missing' : 'not known to be accepted';
    call.reject(new TimeoutError(call.id, call.timeoutMs, where));
  }

  // ---------------------------------------------------------------------------------------
  // 5. Membership and fail-over.

  /**
   * The contact failed (client-membership.ts suspected it): its calls are rejected with a
   * {@link FailoverError}, or with `autoReissue` resent, same id, to the next contact.
   */
  private contactLost(c: Contact): void {
    const requests = [...this.calls.values()]
      .filter((x) => x.contact?.address === c.address)
      .map((x) => x.id);
    this.observe.event({
      type: 'failover',
      clientId: this.clientId,
      contact: c.member,
      requests,
      reissue: this.opts.autoReissue,
    });
    for (const call of [...this.calls.values()]) {
      if (call.contact?.address !== c.address) continue;
      if (this.opts.autoReissue) {
        call.contact = undefined; // resent, same id, when the next contact answers
        call.accepted = undefined;
        call.replies = undefined;
        call.attempts = 0;
        continue;
      }
      this.take(call.id);
      this.remember(call);
      call.reject(new FailoverError(call.id, c.member));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Helpers.

  private take(id: string): Call | undefined {
    const call = this.calls.get(id);
    if (!call) {
      this.counters.stray++;
      return undefined;
    }
    this.calls.delete(id);
    this.time.clear(call.timer);
    this.session.release(id);
    return call;
  }

  /** Keeps a failed call for `outcome`/`reissue`; unsettled until `answer` is known. */
  private remember(call: Call, answer?: ClientOutcome): void {
    const had = this.remembered.get(call.id);
    this.forget(call.id);
    this.remembered.set(call.id, {
      service: call.service,
      method: call.method,
      args: call.args,
      mode: call.mode,
      issue: Math.max(had?.issue ?? 0, call.issue),
      ...(call.history !== undefined || had?.history !== undefined
        ? { history: earlier(call.history, had?.history) }
        : {}),
      ...(answer ? { answer } : {}),
    });
    if (!answer) this.session.hold(call.id);
    // Past `remember`, the oldest is forgotten: the client gives up on it, so it is settled.
    while (this.remembered.size > this.opts.remember)
      this.forget(this.remembered.keys().next().value as string);
  }

  private forget(id: string): void {
    const r = this.remembered.get(id);
    if (!r) return;
    this.remembered.delete(id);
    if (!r.answer) this.session.release(id);
  }

  /** A remembered request got its final answer: settled from now on. */
  private settle(id: string, answer: ClientOutcome): void {
    const r = this.remembered.get(id);
    if (!r || r.answer) return;
    r.answer = answer;
    this.session.release(id);
  }

  /**
   * Without a key, says hello to each member of the view whose cookie we lack or is half a
   * period old (at most once per `contactTimeoutMs` each): its view answering brings the cookie
   * (the contact's come with every heartbeat's answer), so that a fail-over, an
   * outcome query or a retransmission to another member than the contact is served at once,
   * not after a `cookie` notice's round trip.
   */
  private collectCookies(): void {
    const v = this.membership.view;
    if (this.auth || !v) return;
    const now = this.time.now();
    for (const a of this.cookieAsked.keys()) if (!v.addresses.includes(a)) this.cookieAsked.delete(a);
    for (const a of v.addresses) {
      if (
        !this.cookies.wants(a, now) ||
        now - (this.cookieAsked.get(a) ?? Number.NEGATIVE_INFINITY) < this.opts.contactTimeoutMs
      )
        continue;
      this.cookieAsked.set(a, now);
      this.send(a, this.membership.hello(a));
    }
  }

  /**
   * Without a key, the member at `from` sent its cookie for our address in a notice: a call (or
   * an outcome query with a large answer) reached it without one. Taken only if we had none
   * ({@link CookieJar.fromNotice}); then what waits on it there goes again at once, with it.
   */
  private onCookie(from: string, cookie: Uint8Array): void {
    if (!this.cookies.fromNotice(from, cookie, this.time.now())) return;
    for (const call of this.calls.values())
      if (call.contact?.address === from && !call.accepted) this.sendCall(call, call.contact);
    for (const list of this.outcomeWaiters.values())
      for (const w of list) if (w.address === from) this.send(from, w.query);
  }

  /** `addressed: false` for a hello to a seed while looking for the group (see findContact). */
  private send(to: string, p: ClientPacket, addressed = true): void {
    if (this.closed) return;
    this.counters.sent++;
    // A member of the view at that address: the tag names it, so the packet replayed to another
    // member is refused there. A seed not yet in a view is sent to unaddressed (a first hello).
    const i = addressed ? (this.membership.view?.addresses.indexOf(to) ?? -1) : -1;
    const member = i >= 0 ? this.membership.view?.members[i] : undefined;
    const receiver = member !== undefined ? endpointOf(member) : undefined;
    this.transport.send(
      to,
      this.auth
        ? encodeClientPacket(p, this.groupId, this.endpoint, this.auth, receiver)
        : keylessPacket(p, this.cookies.get(to), this.membership.helloBytes(), (q, head) =>
            encodeClientPacket(q, this.groupId, this.endpoint, undefined, undefined, head),
          ),
    );
  }

  /** This client's counters since it connected (a copy). */
  stats(): ClientStats {
    return { ...this.counters, rtoMs: this.rto() };
  }

  /**
   * Changes the key this client signs with and accepts, in step with the group's key roll
   * (see `Group.setKey`). Throws `AuthConfigError` for a bad key or on an insecure client.
   */
  setKey(key: Exclude<AuthKey, KeyRing>): void {
    if (!this.auth) throw new AuthConfigError('setKey: this client was connected with insecure: true');
    this.auth.setKey(key);
  }

  /** Rejects pending calls with {@link ClientClosedError} and closes the transport it opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) this.time.clear(t);
    this.membership.close();
    for (const call of [...this.calls.values()]) {
      this.take(call.id);
      call.reject(new ClientClosedError(call.id));
    }
    if (this.ownsTransport) await this.transport.close();
  }
}

/** A `calls` packet's arguments stay under this many bytes (a larger call goes alone). */
const MAX_CALLS_BYTES = 16 * 1024;
/** Packet header, authentication tag and the `calls` framing, kept free below `maxDatagram`. */
const CALLS_HEADROOM = 256;
/**
 * What a lone call packet holds besides its arguments and names, at most: the packet header and
 * tag (64), the request id (96), the addressed member (64), the kept counters (64 × 9), the
 * other fields and framing.
 */
const CALL_ROOM = 1024;
/**
 * A call's bytes in a `calls` packet, over-estimated without encoding anything (this runs per
 * call): ids and member ids are ASCII by their grammar, a name's UTF-8 is at most 3 bytes per
 * UTF-16 unit, 32 for msgpack framing.
 */
function callSize(p: CallPacket): number {
  return (
    p.args.byteLength + p.id.length + (p.to?.length ?? 0) + 3 * (p.service.length + p.method.length) + 32
  );
}
/** What a settled request's call gives again: the recorded value or error, or its final status as an error. */
function replay(o: ClientOutcome): Promise<unknown> {
  if (o.status === 'interrupted') return Promise.reject(o.error ?? new InterruptedError(o.requestId));
  if (o.status === 'expired') return Promise.reject(o.error ?? new OutcomeExpiredError(o.requestId));
  return o.error ? Promise.reject(o.error) : Promise.resolve(o.value);
}

/** The settled answer of an `all`/`majority` call: its members' replies, as the caller got them. */
function committedReplies(replies: Replies<unknown>): ClientOutcome {
  return {
    requestId: replies.requestId,
    status: 'committed',
    member: '',
    viewId: replies.viewId,
    value: replies,
    settled: true,
  };
}

/**
 * A keyless hello's nonce from 7 random bytes: their low 52 bits above 2^52, so every nonce is a
 * safe integer msgpack writes in 9 bytes (a float64), whatever its value.
 */
export function helloNonce(random: Uint8Array): number {
  const high = ((random[0]! & 0x0f) << 16) | (random[1]! << 8) | random[2]!;
  const low = ((random[3]! << 24) >>> 0) + (random[4]! << 16) + (random[5]! << 8) + random[6]!;
  return 2 ** 52 + high * 2 ** 32 + low;
}

/** The earlier of two histories a request was sent in (the one it was first sent in). */
function earlier(a: SentIn | undefined, b: SentIn | undefined): SentIn | undefined {
  if (!a || !b) return a ?? b;
  return b.count < a.count ? b : a;
}
