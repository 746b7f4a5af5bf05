import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { JoinAbortedError, MembershipFileError, StackConfigError, shown, TroupeError } from '../errors.js';
import { BATCH_DEFAULTS } from '../layers/batch.js';
import { defaultRegistry, GROUP_STACK } from '../layers/index.js';
import { PACK_DEFAULTS } from '../layers/pack.js';
import { type CoreSink, type ObserveSink, sinkFor } from '../observe/events.js';
import { unknownOption } from '../options.js';
import { secureRandom } from '../secure-random.js';
import { buildStack, checkSpec, parseSpec } from '../stack/builder.js';
import { type MemberId, nodeOf } from '../stack/member.js';
import type { LastView, QoS, View } from '../stack/types.js';
import { resolveAddressLeniently } from '../transport/resolve.js';
import type { Transport } from '../transport/types.js';
import { udp } from '../transport/udp.js';
import {
  type AuthKey,
  checkSecurity,
  type KeyRing,
  keyRing,
  PacketAuth,
  type SecurityOptions,
} from '../wire/auth.js';
import { AuthConfigError, DecodeError } from '../wire/errors.js';
import { decodeFixedHeader, PacketType } from '../wire/packet.js';
import { type AppEvent, type CoreEffect, MemberCore, type StateErrorCode } from './core.js';
import { type HealthOptions, healthLayers, REJOIN_DAMP_MS, RejoinDamper } from './health.js';
import { JoinWatch } from './join-watch.js';
import { loadMembership, saveMembership } from './memory.js';

export type { HealthOptions } from './health.js';

import type { GroupEvents, GroupHandle, StateProvider } from './types.js';

/** Options of {@link joinGroup}. A `key` or `insecure: true` is required ({@link SecurityOptions}). */
export interface JoinOptions extends SecurityOptions {
  /** Addresses (`host:port`) of members to contact; usually every replica's address. */
  seeds: readonly string[];
  /** The transport to use; default: UDP fan-out on 127.0.0.1, ephemeral port. */
  transport?: Transport;
  /** State transfer: how a joiner gets the group's state at its join point. */
  state?: StateProvider;
  /** A joiner whose state transfer stalls this long (ms) rejoins as a new member (default 10 s). */
  stateStallMs?: number;
  /** Layer options by layer name, e.g. `{ gms: { suspectMs: 500 } }`. */
  layers?: Record<string, Record<string, unknown>>;
  /** Stack specification, top first (default {@link GROUP_STACK}). */
  stack?: string;
  /** After a partition or an exclusion: come back as a new member (default) or stay out. */
  onPartition?: 'rejoin' | 'stop';
  /** Failure detection, the lag bound of the ordering and rejoin damping (docs/api.md,
   * "Health options"); explicit `layers` options win over these. */
  health?: HealthOptions;
  /** Reject the join if no view is installed within this time (default 30 s). */
  joinTimeoutMs?: number;
  /**
   * A file where this member keeps the last view it installed (written before the view's first
   * packet leaves, replaced atomically), and reads it back when it starts: a process that crashed
   * and restarted at the same address then remembers the view it was in, and cannot help found a
   * second group beside a primary that went on without it (docs/protocol.md, "Membership
   * memory"). One file per member process; give every replica its own. Without it a restarted
   * process remembers nothing. An unreadable file, or one of another group, fails the join with
   * `MembershipFileError` (`MEMBERSHIP_FILE_BAD`) before a socket opens. A view that cannot be
   * written (a full disk, the directory gone) stops the member before any packet of that view
   * leaves: the join rejects with that error, or a joined member reports `partitioned` with
   * code `MEMBERSHIP_FILE_BAD` and stays out (the others remove it as failed).
   *
   * @example
   * ```ts
   * await joinGroup('accounts', { key, seeds, membershipFile: '/var/lib/accounts/membership.json' });
   * ```
   */
  membershipFile?: string;
  /**
   * Calls the join off: it rejects with `JoinAbortedError` (`JOIN_ABORTED`). A joiner already in
   * a view (e.g. waiting for its state) leaves it first, so the others need not suspect it and
   * remove it as failed. No effect once the join has resolved.
   */
  signal?: AbortSignal;
  /** Largest message accepted by `cast`/`send` (default 64 MiB). */
  maxMessage?: number;
  /**
   * The group key: a string or bytes of at least 32 bytes, or `{ current, previous }` during a
   * key roll (else `AuthConfigError` `AUTH_BAD_KEY`). Required unless `insecure: true` (else
   * `AuthConfigError` `KEY_REQUIRED`). Every packet is then authenticated, bound to its
   * receiver and checked for replays; members without the same key cannot join or talk to the
   * group (docs/protocol.md, "Authentication"). With `joinReplica`, the same key also
   * authenticates the RPC clients' packets. {@link Group.setKey} rolls it.
   */
  key?: AuthKey;
  /** Listeners registered before the member starts, so nothing is missed: the first view and
   * a joiner's deliveries come before `joinGroup` resolves. */
  on?: { [E in keyof GroupEvents]?: GroupEvents[E] };
  /** Metrics, logs and traces of this member (e.g. an `Observer`, docs/observability.md). */
  observe?: ObserveSink;
}

type Listeners = { [E in keyof GroupEvents]: Set<GroupEvents[E]> };

const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/** Casts handed to the stack per turn of the event loop. */
export const CAST_BATCH = 64;
/** Room for headers in a datagram, below the transport's limit. */
const FRAG_HEADROOM = 1_024;

/**
 * A member of a process group: drives the sans-IO member core (and its protocol stack) with a
 * real transport, a monotonic clock and real timers.
 *
 * @example
 * ```ts
 * const g = await joinGroup('accounts', { seeds: ['127.0.0.1:7001', '127.0.0.1:7002'] });
 * g.on('deliver', (d) => console.log(d.gseq, new TextDecoder().decode(d.payload)));
 * g.cast(new TextEncoder().encode('hello'));             // totally ordered by default
 * g.cast(bytes, { order: 'total', resilience: 'majority' });
 * await g.leave();
 * ```
 */
export class Group implements GroupHandle {
  private readonly core: MemberCore;
  /** Cancels the pending wake-up of the core, if any; it is due at `timerAt`. */
  private cancelWake: (() => void) | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly listeners: Listeners = {
    deliver: new Set(),
    view: new Set(),
    suspect: new Set(),
    lagging: new Set(),
    partitioned: new Set(),
    block: new Set(),
    stable: new Set(),
  };
  private outbox: { payload: Uint8Array; qos: QoS }[] = [];
  /** Nesting depth of `run`: above 0 while the core's effects are being handed out. */
  private handling = 0;
  private clientHandler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private ready: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** While the first join runs: what answered, for an error that says why it failed. */
  private joinWatch: JoinWatch | undefined;
  private leaving: (() => void) | undefined;
  private closed = false;
  /** The keys every stack of this member (one per incarnation) signs with; undefined if insecure. */
  private readonly ring: KeyRing | undefined;
  private readonly damper: RejoinDamper;
  /** Stack errors (a layer threw): kept for diagnostics, never thrown at the caller. */
  readonly errors: { layer: string; error: unknown }[] = [];
  private readonly observe: CoreSink;
  /** The view last written to the membership file (see {@link saveMemory}). */
  private saved: LastView | undefined;

  private constructor(
    readonly groupName: string,
    private readonly transport: Transport,
    private readonly opts: JoinOptions,
    private readonly ownsTransport: boolean,
    /** The seeds as written (`opts.seeds` holds them resolved): Joins go to these names. */
    seedNames: readonly string[] = opts.seeds,
  ) {
    this.ring = opts.key === undefined ? undefined : keyRing(opts.key);
    const health = healthLayers(opts.health);
    this.damper = new RejoinDamper(opts.health?.rejoinDampMs ?? REJOIN_DAMP_MS);
    const layers = {
      ...opts.layers,
      seq: { ...health.seq, ...opts.layers?.seq },
      gms: {
        ...health.gms,
        ...opts.layers?.gms,
        seeds: [...opts.seeds],
        ...(seedNames.some((n, i) => n !== opts.seeds[i]) ? { seedNames: [...seedNames] } : {}),
        address: transport.address,
        ...(transport.aliases ? { aliases: [...transport.aliases] } : {}),
        joinSecret: randomBytes(32).toString('hex'),
      },
      // Where nak's streams begin is derived from it: unguessable, as the join nonces' secret.
      nak: { originSecret: randomBytes(32).toString('hex'), ...opts.layers?.nak },
      frag: { fragSize: transport.maxDatagram - FRAG_HEADROOM, ...opts.layers?.frag },
      // A packed batch must fit the datagram as a fragment does. pack's default (60,000 bytes)
      // over a transport with smaller datagrams made packets the transport dropped, every time
      // nak resent them packed again: 20 deposits at once wedged a group of `udp({ maxDatagram:
      // 1400 })` members for good (session 25's review).
      // A batch of casts fits one fragment, so frag sends it whole.
      batch: {
        maxBytes: Math.min(BATCH_DEFAULTS.maxBytes, transport.maxDatagram - FRAG_HEADROOM),
        ...opts.layers?.batch,
      },
      pack: {
        maxBytes: Math.min(PACK_DEFAULTS.maxBytes, transport.maxDatagram - FRAG_HEADROOM),
        ...opts.layers?.pack,
      },
      // One signer for every incarnation's stack: its replay windows outlive a rejoin.
      ...(this.ring !== undefined
        ? {
            com: { ...opts.layers?.com, auth: this.memberAuth(opts) },
          }
        : {}),
    };
    const specs = parseSpec(opts.stack ?? GROUP_STACK, layers);
    this.observe = sinkFor(opts.observe);
    this.core = new MemberCore({
      groupName,
      node: randomInt(1, 0xffffffff),
      ...(opts.state ? { state: opts.state } : {}),
      ...(opts.stateStallMs !== undefined ? { stateStallMs: opts.stateStallMs } : {}),
      ...(transport.receiveBuffer !== undefined ? { receiveBuffer: transport.receiveBuffer } : {}),
      makeStack: (self) =>
        buildStack(specs, defaultRegistry(), {
          self,
          groupName,
          random: secureRandom(),
          ...envTracer(self),
        }),
    });
  }

  /** Create the member and join; resolves once a view (and the state, for a joiner) is installed. */
  static async join(groupName: string, opts: JoinOptions): Promise<Group> {
    // A misspelt `insecur: true` is named as such, not reported as a missing key.
    checkOptionNames(opts);
    checkSecurity(opts, 'joinGroup'); // before any socket opens
    checkShape(opts);
    checkGroupStack(opts.stack ?? GROUP_STACK);
    const remembered = opts.membershipFile ? loadMembership(opts.membershipFile, groupName) : undefined;
    const transport = opts.transport ?? (await udp({ host: '127.0.0.1' }));
    // Seeds as IPs: votes and packets come from IPs, and a member must know itself among them.
    const seeds = await Promise.all(opts.seeds.map(resolveAddressLeniently));
    const g = new Group(groupName, transport, { ...opts, seeds }, opts.transport === undefined, opts.seeds);
    if (remembered) g.core.remember(remembered);
    g.observe.event({ type: 'member', group: g });
    for (const [event, listener] of Object.entries(opts.on ?? {}))
      if (listener) g.on(event as keyof GroupEvents, listener as never);
    transport.onPacket((bytes, from) => g.onPacket(bytes, from));
    const ready = new Promise<void>((resolve, reject) => {
      g.ready = { resolve, reject };
    });
    const watch = new JoinWatch(
      groupName,
      seeds,
      transport.address,
      () => g.core.self,
      g.ring?.id ?? '',
      (e) => g.ready?.reject(e),
      transport.aliases,
      remembered && opts.membershipFile ? { path: opts.membershipFile, view: remembered } : undefined,
    );
    g.joinWatch = watch;
    // Rejected with this marker when the signal fires; the error is made once we know whether
    // the member was in a view (and left it).
    const aborted = new Error('join aborted');
    const onAbort = (): void => g.ready?.reject(aborted);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    else g.run(g.core.start(g.now()));
    const ms = opts.joinTimeoutMs ?? 30_000;
    const timeout = setTimeout(() => g.ready?.reject(watch.timeoutError(ms)), ms);
    try {
      await ready;
    } catch (e) {
      if (e !== aborted) {
        await g.close();
        throw e;
      }
      // In a view already (the others count it in, e.g. while its state comes): leave it, or
      // they would wait for their failure detector to remove it.
      const view = g.core.view;
      const member = g.self;
      if (view) await g.leave();
      else await g.close();
      throw new JoinAbortedError(
        `joining '${groupName}' was called off${view ? ` (${member} was in view ${view.id} and left it)` : ''}`,
        seeds,
        member,
        view !== undefined,
      );
    } finally {
      clearTimeout(timeout);
      opts.signal?.removeEventListener('abort', onAbort);
      watch.close();
      g.joinWatch = undefined;
    }
    return g;
  }

  get self(): MemberId {
    return this.core.self;
  }

  get address(): string {
    return this.transport.address;
  }

  /** The largest packet {@link sendRaw} can send: the transport's datagram. */
  get maxDatagram(): number {
    return this.transport.maxDatagram;
  }

  /**
   * Whether this member may answer clients for the group's history now. False before its first
   * view, while it holds deliveries after a long stop (until a majority of its view answers it),
   * while it suspects a majority of its view, and when its timers are overdue past its stall
   * bound (a process that just woke, before its stack has run): a member that ran on after a
   * stop may hold a view whose others re-founded the group without it. The replica gives no
   * reply, outcome or query answer then; the client asks again or asks another member.
   *
   * @example
   * if (!group.speaking) return; // answer later, or let another member answer
   */
  get speaking(): boolean {
    return this.core.speaks(this.now());
  }

  get view(): View | undefined {
    return this.core.view;
  }

  /**
   * Which history of the group this member's state belongs to (an opaque number, one per
   * founding); undefined until its state is settled, and without `state`. Two members with the
   * same history hold states of one agreed order; a group founded again (after it lost its
   * majority) has another.
   */
  get history(): number | undefined {
    return this.core.history;
  }

  /** Whether this member authenticates its packets (`JoinOptions.key` was set). */
  get authenticated(): boolean {
    return this.ring !== undefined;
  }

  /** Whether this member encrypts its packets (`JoinOptions.encrypt`). */
  get encrypted(): boolean {
    return this.ring !== undefined && this.opts.encrypt === true;
  }

  /** The public name of the signing key ({@link authKeyId}), or undefined without one. */
  get keyId(): string | undefined {
    return this.ring?.id;
  }

  /**
   * Changes the group key without leaving: sign with `current` from now on, accept `current`
   * and `previous`. A roll from key A to key B without stopping the group takes three steps,
   * each applied at every member (and client) before the next: `{ current: A, previous: B }`
   * (everyone accepts B), `{ current: B, previous: A }` (everyone signs with B), then `B`.
   * A replica made by `joinReplica` shares these keys. Throws `AuthConfigError` for a bad key
   * or on an insecure member.
   *
   * @example
   * ```ts
   * group.setKey({ current: oldKey, previous: newKey }); // at every member, then
   * group.setKey({ current: newKey, previous: oldKey }); // at every member, then
   * group.setKey(newKey);
   * ```
   */
  setKey(key: Exclude<AuthKey, KeyRing>): void {
    if (!this.ring) throw new AuthConfigError('setKey: this member was started with insecure: true');
    this.ring.set(key);
  }

  /**
   * Multicast to the group. A cast made while no other waits, outside this member's own event
   * handling (e.g. from a client packet or a timer), goes to the protocol stack at once: a lone
   * call must not wait a turn of the event loop. Otherwise the message is handed over in the
   * next turns, at most {@link CAST_BATCH} per turn: a burst of casts from a loop then cannot
   * keep this process from sending heartbeats and answering its peers, which would get it
   * suspected. Either way the stack's packing still sends what one turn cast in one packet, and
   * order among casts is kept.
   */
  cast(payload: Uint8Array, qos: QoS = { order: 'total' }): void {
    this.checkSendable(payload);
    checkQos(qos);
    if (this.observe.wants('cast')) this.observe.event({ type: 'cast', payload, qos });
    // Inside `run` (a listener casting from a delivery) the core is mid-way through handing out
    // effects: the cast waits for the next turn rather than re-entering it.
    if (this.outbox.length === 0 && this.handling === 0 && !this.closed) {
      this.run(this.core.cast(payload, qos, this.now()));
      return;
    }
    this.outbox.push({ payload, qos });
    if (this.outbox.length === 1) setImmediate(() => this.drain());
  }

  private drain(): void {
    const batch = this.outbox.splice(0, CAST_BATCH);
    // One timer reschedule for the batch, not one per cast: each looks at every stack timer.
    for (const { payload, qos } of batch) {
      if (this.closed) return;
      this.run(this.core.cast(payload, qos, this.now()), false);
    }
    this.schedule();
    if (this.outbox.length > 0) setImmediate(() => this.drain());
  }

  send(to: MemberId, payload: Uint8Array): void {
    this.checkSendable(payload);
    this.run(this.core.send(to, payload, this.now()));
  }

  private checkSendable(payload: Uint8Array): void {
    if (this.closed)
      throw new TroupeError('GROUP_CLOSED', `member ${this.self} has left '${this.groupName}'`);
    const max = this.opts.maxMessage ?? DEFAULT_MAX_MESSAGE;
    if (payload.length > max)
      throw new TroupeError(
        'MESSAGE_TOO_LARGE',
        `message of ${payload.length} bytes exceeds the ${max}-byte limit`,
      );
  }

  on<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    (this.listeners[event] as Set<GroupEvents[E]>).add(listener);
  }

  off<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    (this.listeners[event] as Set<GroupEvents[E]>).delete(listener);
  }

  onClientPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.clientHandler = handler;
  }

  sendRaw(address: string, bytes: Uint8Array): void {
    if (!this.closed) this.transport.send(address, bytes);
  }

  /** Leave cleanly: the group installs a view without this member, then the transport closes. */
  async leave(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return;
    while (this.outbox.length > 0 && !this.closed) this.drain();
    if (this.core.view) {
      const left = new Promise<void>((resolve) => {
        this.leaving = resolve;
      });
      this.run(this.core.leave(this.now()));
      let t: NodeJS.Timeout | undefined;
      await Promise.race([left, new Promise((r) => (t = setTimeout(r, timeoutMs)))]);
      clearTimeout(t);
    }
    await this.close();
  }

  /** Per-layer counters, plus the transport's. */
  /**
   * The member's signer, shared by its incarnations' stacks. com's `clock`, `freshnessMs` and
   * `handshake` options apply to it (members hand-shake by default: skewed clocks are tolerated).
   */
  private memberAuth(opts: JoinOptions): PacketAuth {
    const com = (opts.layers?.com ?? {}) as { clock?: unknown; freshnessMs?: unknown; handshake?: unknown };
    return new PacketAuth(this.ring!, {
      encrypt: opts.encrypt === true,
      handshake: com.handshake !== false,
      ...(typeof com.clock === 'function' ? { clock: com.clock as () => number } : {}),
      ...(typeof com.freshnessMs === 'number' ? { freshnessMs: com.freshnessMs } : {}),
    });
  }

  /** Counters by layer (`nak`, `seq`, `gms`, ...) and the transport's, since the member started. */
  stats(): Record<string, Record<string, number>> {
    return { ...this.core.stats(), transport: { ...this.transport.stats() } };
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelWake?.();
    if (this.ownsTransport) await this.transport.close();
  }

  // ------------------------------------------------------------------ driving the core

  private now(): number {
    return performance.now();
  }

  private onPacket(bytes: Uint8Array, from: string): void {
    if (this.closed) return;
    if (bytes.length > 2 && bytes[2] === PacketType.Client) {
      try {
        decodeFixedHeader(bytes);
      } catch (e) {
        if (e instanceof DecodeError) return;
        throw e;
      }
      this.clientHandler?.(bytes, from);
      return;
    }
    const watch = this.joinWatch;
    if (!watch) {
      this.run(this.core.receive(bytes, from, this.now()));
      return;
    }
    // While first joining: refusal notices stop here; a packet the stack takes vouches for its
    // address (JoinWatch drops refusals forged in its name).
    if (watch.onPacket(bytes, from)) return;
    const before = this.acceptedPackets();
    this.run(this.core.receive(bytes, from, this.now()));
    if (this.acceptedPackets() > before) watch.onAccepted(from);
  }

  /** Packets com has taken so far (authenticated, when there is a key). */
  private acceptedPackets(): number {
    // Once per packet while joining (a whole state transfer): one layer's counters, not all.
    return this.core.comReceived();
  }

  private run(effects: CoreEffect[], schedule = true): void {
    this.handling++;
    try {
      this.apply(effects);
    } finally {
      this.handling--;
    }
    if (schedule) this.schedule();
  }

  private apply(effects: CoreEffect[]): void {
    // A view installed in this turn is on disk before any of the turn's packets leave: a process
    // killed after acknowledging a view remembers it (see `membershipFile`). Read from the core,
    // not from its `view` events: a joiner's are held until its state is in, while it is
    // already in the view and acknowledging it. A view that cannot be written stops the member
    // here, before any of these packets leaves (see `failStop`).
    if (this.opts.membershipFile && !this.saveMemory(this.opts.membershipFile)) return;
    for (const e of effects) {
      switch (e.kind) {
        case 'transmit':
          if (e.to === null) this.transport.multicast(e.bytes);
          else this.transport.send(e.to, e.bytes);
          break;
        case 'peers':
          this.transport.setPeers(e.addresses);
          break;
        case 'app':
          this.onApp(e.event);
          break;
        case 'error':
          this.errors.push({ layer: e.layer, error: e.error });
          if (this.errors.length > 100) this.errors.shift();
          break;
      }
    }
  }

  /** Writes the view the core last installed, if not written yet; false if it could not be. */
  private saveMemory(path: string): boolean {
    // Saved once per view and incarnation (the members list is one array per installed view):
    // this runs for every packet, so the common case reads two fields and allocates nothing.
    const v = this.core.view;
    if (v && v.members === this.saved?.members && this.core.self === this.saved.self) return true;
    const last = this.core.memory();
    if (!last || (last.members === this.saved?.members && last.self === this.saved.self)) return true;
    // Before its first view the core's memory is what it read from this file at the start: the
    // earlier process's member, already on disk. Written back, it made the file count as this
    // process's, and its own first view then found "another replica" there and every save was
    // refused (real-chaos --lan --seed 5104: a slot's file kept its first process's last view).
    if (nodeOf(last.self) !== nodeOf(this.core.self)) return true;
    try {
      saveMembership(path, this.groupName, last);
      this.saved = last;
      return true;
    } catch (error) {
      this.failStop(path, this.core.view?.id ?? 0, error);
      return false;
    }
  }

  /**
   * The view just installed could not be written to the membership file (a full disk, a
   * directory gone, another replica's file): the member stops before any packet of that view
   * leaves, as a consensus log that cannot be written stops its node. Running on, it would
   * acknowledge a view that a restart would not remember, and a restarted process remembering
   * an older view may help found a second group beside the one that went on (docs/protocol.md,
   * "Membership memory"). The others remove it as failed; a join in progress rejects, a joined
   * member reports `partitioned` with code `MEMBERSHIP_FILE_BAD` and does not rejoin.
   */
  private failStop(path: string, viewId: number, error: unknown): void {
    const cause = error instanceof Error ? error.message : String(error);
    const e =
      error instanceof MembershipFileError
        ? error
        : new MembershipFileError(`membership file ${path} could not be written: ${cause}`, path, {
            cause: error,
          });
    this.errors.push({ layer: 'membership', error: e });
    if (this.errors.length > 100) this.errors.shift();
    const reason = `${e.message}; this member stopped before acknowledging a view it could not remember`;
    if (this.ready) {
      this.ready.reject(e);
      this.ready = undefined;
    } else this.emit('partitioned', { viewId, reason, code: e.code });
    void this.close();
  }

  private schedule(): void {
    if (this.closed) return;
    const due = this.core.nextDeadline();
    if (due === undefined || due >= this.timerAt) return;
    this.cancelWake?.();
    this.timerAt = due;
    const wake = () => {
      this.cancelWake = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      if (!this.closed) this.run(this.core.advance(this.now()));
    };
    const delay = due - this.now();
    if (delay <= 0) {
      // Due now (pack's end-of-turn flush): run after this turn's I/O, not after setTimeout's
      // 1 ms minimum, which every hop of a call would otherwise pay.
      const h = setImmediate(wake);
      this.cancelWake = () => clearImmediate(h);
    } else {
      const h = setTimeout(wake, delay);
      this.cancelWake = () => clearTimeout(h);
    }
  }

  /** Whether this member rejoins as a new member when cut off (`onPartition`). */
  private rejoins(): boolean {
    return (this.opts.onPartition ?? 'rejoin') === 'rejoin' && !this.closed;
  }

  private emit<E extends keyof GroupEvents>(event: E, ...args: Parameters<GroupEvents[E]>): void {
    for (const l of this.listeners[event]) (l as (...a: Parameters<GroupEvents[E]>) => void)(...args);
  }

  private onApp(event: AppEvent): void {
    let ev = event;
    // RMP: a member that lost the primary partition comes back only as a new member, damped
    // while exclusions repeat. The event says when (to the observer too): without it an operator
    // sees a replica stay out for up to a minute with no reason given.
    if (ev.type === 'partitioned' && !(failsJoin(ev.code) && this.ready) && this.rejoins())
      ev = { ...ev, rejoinInMs: Math.round(this.damper.cutOff(this.now())) };
    if (this.observe.wants('app')) this.observe.event({ type: 'app', group: this, event: ev });
    switch (ev.type) {
      case 'deliver':
        this.emit('deliver', ev.delivery);
        return;
      case 'view':
        this.emit('view', ev.change);
        return;
      case 'suspect':
        this.emit('suspect', ev.suspicion);
        return;
      case 'lagging':
        this.emit('lagging', ev.lagging);
        return;
      case 'block':
        this.emit('block');
        return;
      case 'stable':
        this.emit('stable', { seqs: ev.seqs });
        return;
      case 'ready':
        this.ready?.resolve();
        this.ready = undefined;
        return;
      case 'snapshot':
        this.run(ev.take(this.now()));
        return;
      case 'left':
        this.leaving?.();
        return;
      case 'partitioned':
        if (ev.code && this.ready && (failsJoin(ev.code) || ev.rejoinInMs === undefined)) {
          // The first join cannot get the group's state (its provider's snapshot or this
          // replica's restore failed): a clear error beats retrying into the same failure. A
          // busy provider's (STATE_BUSY) is retried, unless this member does not rejoin.
          this.ready.reject(new TroupeError(ev.code, ev.reason));
          return;
        }
        this.emit('partitioned', {
          viewId: ev.viewId,
          reason: ev.reason,
          ...(ev.yielded ? { yielded: ev.yielded } : {}),
          ...(ev.rejoinInMs !== undefined ? { rejoinInMs: ev.rejoinInMs } : {}),
        });
        if (ev.rejoinInMs !== undefined && !this.closed) {
          // Damping delays only the admission: the new incarnation starts now, finds the group
          // and votes in a re-founding (its group may need this member to have a majority
          // again), but asks no running group to admit it for `rejoinInMs`.
          const admitAfter = ev.rejoinInMs > 0 ? this.now() + ev.rejoinInMs : undefined;
          queueMicrotask(() => {
            if (!this.closed) this.run(this.core.start(this.now(), admitAfter));
          });
        }
        return;
    }
  }
}

/**
 * Refuses (`StackConfigError`) a stack a group cannot run on: one the builder refuses, and one
 * without a layer that provides `membership` (gms: no view is ever installed, the join times
 * out) or `total` (seq or total). A state offer is a total-order cast and `g.cast()` is total by
 * default: without an order layer both arrive fifo, a founding with a state provider never
 * completes (each offer is refused and the founders rejoin every `stateStallMs`), and the group's
 * casts are not ordered. Checked before any socket opens.
 */
export function checkGroupStack(spec: string): void {
  const factories = checkSpec(parseSpec(spec), defaultRegistry());
  for (const [need, layers] of [
    ['membership', 'gms'],
    ['total', 'seq or total'],
  ] as const)
    if (!factories.some((f) => f.provides.includes(need)))
      throw new StackConfigError(
        'STACK_MISSING',
        `joinGroup: stack '${spec}' has no layer providing '${need}' (${layers}); a group needs one`,
      );
}

/** Every option `joinGroup` takes: the compiler keeps it in step with {@link JoinOptions}. */
export const JOIN_OPTIONS = {
  seeds: true,
  transport: true,
  state: true,
  stateStallMs: true,
  layers: true,
  stack: true,
  onPartition: true,
  health: true,
  joinTimeoutMs: true,
  membershipFile: true,
  signal: true,
  maxMessage: true,
  key: true,
  insecure: true,
  encrypt: true,
  on: true,
  observe: true,
} as const satisfies Record<keyof JoinOptions, true>;

/**
 * What JavaScript callers (no compiler to tell them) get wrong most: a transport still a promise
 * (`udp()` is async), seeds as one string. A TypeError deep inside the join says neither.
 */
function checkOptionNames(opts: JoinOptions): void {
  if (typeof opts !== 'object' || opts === null) return; // checkSecurity names that
  const unknown = unknownOption('joinGroup', opts, JOIN_OPTIONS);
  if (unknown) throw new StackConfigError('STACK_BAD_OPTION', unknown);
}

function checkShape(opts: JoinOptions): void {
  const seeds: unknown = opts.seeds;
  if (!Array.isArray(seeds) || !seeds.every((s) => typeof s === 'string'))
    throw new StackConfigError(
      'STACK_BAD_OPTION',
      `joinGroup: seeds must be an array of 'host:port' strings, got ${typeof seeds === 'string' ? `the string '${seeds}'` : typeof seeds}`,
    );
  const t: unknown = opts.transport;
  if (t === undefined) return;
  if (t instanceof Promise)
    throw new StackConfigError(
      'STACK_BAD_OPTION',
      'joinGroup: transport is a promise: await it first (transport: await udp({ ... }))',
    );
  const missing = ['send', 'multicast', 'onPacket', 'setPeers', 'stats', 'close'].filter(
    (k) => typeof (t as Record<string, unknown>)[k] !== 'function',
  );
  if (missing.length > 0 || typeof (t as Transport).address !== 'string')
    throw new StackConfigError(
      'STACK_BAD_OPTION',
      `joinGroup: transport is not a Transport (missing ${missing.length > 0 ? missing.join(', ') : 'address'}); make one with udp() or tcp()`,
    );
}

/**
 * `TROUPE_TRACE=gms,seq` (layer names, or `*`): the layers' protocol trace lines on stderr, each
 * with the wall-clock time and the member: what a developer reads to see why a member did what
 * it did (a founding vote, a flush restart) in a real process. Off unless set; not for production
 * load (a line per protocol decision).
 */
function envTracer(self: string): { tracer?: (line: string) => void } {
  const layers = (process.env.TROUPE_TRACE ?? '').split(',').filter((l) => l !== '');
  if (layers.length === 0) return {};
  return {
    tracer: (line) => {
      const layer = line.slice(0, line.indexOf(':'));
      if (layers.includes('*') || layers.includes(layer))
        process.stderr.write(`${Date.now()} ${self} ${line}\n`);
    },
  };
}

/**
 * Join (or found) the group `groupName`: resolves once this member is in a view. See
 * {@link Group} and {@link JoinOptions}.
 *
 * @example
 * ```ts
 * const group = await joinGroup('chat', {
 *   seeds: ['10.0.0.1:7000', '10.0.0.2:7000', '10.0.0.3:7000'],
 *   transport: await udp({ host: '10.0.0.1', port: 7000 }),
 *   key: readKeyFile('/etc/chat/group.key'),
 * });
 * group.on('deliver', (d) => console.log(d.sender, new TextDecoder().decode(d.payload)));
 * group.on('view', (v) => console.log('view', v.view.id, v.view.members));
 * group.cast(new TextEncoder().encode('hello')); // total order, every member the same order
 * ```
 */
export function joinGroup(groupName: string, options: JoinOptions): Promise<Group> {
  return Group.join(groupName, options);
}

/** Whether a first join that gave up with `code` fails (a busy provider's is joined again). */
function failsJoin(code: StateErrorCode | undefined): boolean {
  return code !== undefined && code !== 'STATE_BUSY';
}

/**
 * Refuses a cast's QoS that is not one: the layers read `order` and `resilience` by position in
 * their lists, so a misspelt `order: 'totl'` went out as `unreliable` and `resilience:
 * 'majorty'` as `none`, silently (a JavaScript caller has no type check). `TroupeError`
 * `BAD_QOS`, before anything is sent.
 */
export function checkQos(qos: QoS): void {
  const q = qos as unknown as Record<string, unknown>;
  let problem: string | undefined;
  if (typeof q !== 'object' || q === null) problem = 'a QoS is an object, e.g. { order: "total" }';
  else if (q.order !== 'total' && q.order !== 'fifo' && q.order !== 'reliable' && q.order !== 'unreliable')
    problem = `order ${shown(q.order)} is not one of "unreliable", "reliable", "fifo", "total"`;
  else if (
    q.resilience !== undefined &&
    q.resilience !== 'none' &&
    q.resilience !== 'majority' &&
    q.resilience !== 'safe' &&
    q.resilience !== 'k'
  )
    problem = `resilience ${shown(q.resilience)} is not one of "none", "k", "majority", "safe"`;
  else if (q.resilience === 'k' && !(Number.isInteger(q.k) && (q.k as number) >= 1))
    problem = `resilience "k" needs k, a whole number of other members ≥ 1 (got ${shown(q.k)})`;
  else if (q.awaited !== undefined && q.awaited !== 'sender' && q.awaited !== 'all')
    problem = `awaited ${shown(q.awaited)} is not one of "sender", "all"`;
  else
    for (const key in q)
      if (key !== 'order' && key !== 'resilience' && key !== 'k' && key !== 'awaited') {
        problem = `unknown QoS field '${key}' (order, resilience, k, awaited)`;
        break;
      }
  if (problem !== undefined) throw new TroupeError('BAD_QOS', `cast: ${problem}`);
}
