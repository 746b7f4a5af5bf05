import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { TroupeError } from '../errors.js';
import { defaultRegistry, GROUP_STACK } from '../layers/index.js';
import { buildStack, parseSpec } from '../stack/builder.js';
import { headerTuple, headerUint } from '../stack/header.js';
import { type MemberId, memberId } from '../stack/member.js';
import { seededRandom } from '../stack/random.js';
import type { Stack } from '../stack/stack.js';
import type { DownEvent, Effect, Msg, QoS, UpEvent, View } from '../stack/types.js';
import type { Transport } from '../transport/types.js';
import { udp } from '../transport/udp.js';
import { DecodeError } from '../wire/errors.js';
import { decodeFixedHeader, PacketType } from '../wire/packet.js';
import { GroupKind, StateReceiver, StateSender } from './state-transfer.js';
import type { Delivery, GroupEvents, GroupHandle, StateProvider, ViewChange } from './types.js';

/** Options of {@link joinGroup}. */
export interface JoinOptions {
  /** Addresses (`host:port`) of members to contact; usually every replica's address. */
  seeds: readonly string[];
  /** The transport to use; default: UDP fan-out on 127.0.0.1, ephemeral port. */
  transport?: Transport;
  /** State transfer: how a joiner gets the group's state at its join point. */
  state?: StateProvider;
  /** Layer options by layer name, e.g. `{ gms: { suspectMs: 500 } }`. */
  layers?: Record<string, Record<string, unknown>>;
  /** Stack specification, top first (default {@link GROUP_STACK}). */
  stack?: string;
  /** After a partition or an exclusion: come back as a new member (default) or stay out. */
  onPartition?: 'rejoin' | 'stop';
  /** Reject the join if no view is installed within this time (default 30 s). */
  joinTimeoutMs?: number;
  /** Largest message accepted by `cast`/`send` (default 64 MiB). */
  maxMessage?: number;
}

type Listeners = { [E in keyof GroupEvents]: Set<GroupEvents[E]> };

const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
const FRAG_HEADROOM = 1_024;
const EMPTY = new Uint8Array(0);

/**
 * A member of a process group: drives a sans-IO protocol stack with a real transport and real
 * timers, and gives the application casts, point-to-point sends and events.
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
  private stack!: Stack;
  private member!: MemberId;
  private readonly node = randomInt(1, 0xffffffff);
  private inc = 0;
  private installed: View | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly listeners: Listeners = {
    deliver: new Set(),
    view: new Set(),
    suspect: new Set(),
    partitioned: new Set(),
    block: new Set(),
  };
  private clientHandler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private readonly senders = new Map<MemberId, StateSender>();
  private receiver: StateReceiver | undefined;
  /** Events held while a joiner waits for its state. */
  private held: (() => void)[] | undefined;
  private joined: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private leaving: (() => void) | undefined;
  private closed = false;
  /** Stack errors (a layer threw): counted and kept for diagnostics, never thrown at the caller. */
  readonly errors: { layer: string; error: unknown }[] = [];

  private constructor(
    readonly groupName: string,
    private readonly transport: Transport,
    private readonly opts: JoinOptions,
    private readonly ownsTransport: boolean,
  ) {}

  /** Create the member and join; resolves once a view (and the state, for a joiner) is installed. */
  static async join(groupName: string, opts: JoinOptions): Promise<Group> {
    const transport = opts.transport ?? (await udp({ host: '127.0.0.1' }));
    const g = new Group(groupName, transport, opts, opts.transport === undefined);
    transport.onPacket((bytes, from) => g.onPacket(bytes, from));
    const done = new Promise<void>((resolve, reject) => {
      g.joined = { resolve, reject };
    });
    g.start();
    const ms = opts.joinTimeoutMs ?? 30_000;
    const timeout = setTimeout(
      () => g.joined?.reject(new TroupeError('JOIN_TIMEOUT', `no view of '${groupName}' within ${ms} ms`)),
      ms,
    );
    try {
      await done;
    } catch (e) {
      await g.close();
      throw e;
    } finally {
      clearTimeout(timeout);
    }
    return g;
  }

  get self(): MemberId {
    return this.member;
  }

  get address(): string {
    return this.transport.address;
  }

  get view(): View | undefined {
    return this.installed;
  }

  private start(): void {
    this.inc++;
    this.member = memberId({ node: this.node, inc: this.inc });
    this.installed = undefined;
    this.senders.clear();
    this.receiver = undefined;
    this.held = undefined;
    const layers = {
      ...this.opts.layers,
      gms: { ...this.opts.layers?.gms, seeds: [...this.opts.seeds], address: this.transport.address },
      frag: { fragSize: this.transport.maxDatagram - FRAG_HEADROOM, ...this.opts.layers?.frag },
    };
    this.stack = buildStack(parseSpec(this.opts.stack ?? GROUP_STACK, layers), defaultRegistry(), {
      self: this.member,
      groupName: this.groupName,
      random: seededRandom(randomInt(0, 0xffffffff)),
    });
    this.down({ type: 'join' });
  }

  // ------------------------------------------------------------------ API

  cast(payload: Uint8Array, qos: QoS = { order: 'total' }): void {
    this.checkSendable(payload);
    this.down({ type: 'cast', msg: { headers: [[GroupKind.App]], payload }, qos });
  }

  send(to: MemberId, payload: Uint8Array): void {
    this.checkSendable(payload);
    this.down({ type: 'send', to, msg: { headers: [[GroupKind.App]], payload }, qos: { order: 'fifo' } });
  }

  private checkSendable(payload: Uint8Array): void {
    if (this.closed)
      throw new TroupeError('GROUP_CLOSED', `member ${this.member} has left '${this.groupName}'`);
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
    if (this.installed) {
      const left = new Promise<void>((resolve) => {
        this.leaving = resolve;
      });
      this.down({ type: 'leave' });
      await Promise.race([left, new Promise((r) => setTimeout(r, timeoutMs))]);
    }
    await this.close();
  }

  /** Per-layer counters. */
  stats(): Record<string, Record<string, number>> {
    return { ...this.stack.stats(), transport: { ...this.transport.stats() } };
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ownsTransport) await this.transport.close();
  }

  // ------------------------------------------------------------------ driving the stack

  private now(): number {
    return performance.now();
  }

  private down(ev: DownEvent): void {
    this.run(this.stack.down(ev, this.now()));
  }

  private onPacket(bytes: Uint8Array, from: string): void {
    if (this.closed) return;
    if (bytes.length >= 4 && bytes[2] === PacketType.Client) {
      try {
        decodeFixedHeader(bytes);
      } catch (e) {
        if (e instanceof DecodeError) return;
        throw e;
      }
      this.clientHandler?.(bytes, from);
      return;
    }
    this.run(this.stack.receive(bytes, from, this.now()));
  }

  private run(effects: Effect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'transmit':
          if (e.to === null) this.transport.multicast(e.bytes);
          else this.transport.send(e.to, e.bytes);
          break;
        case 'peers':
          this.transport.setPeers(e.addresses);
          break;
        case 'up':
          this.onUp(e.event);
          break;
        case 'error':
          this.errors.push({ layer: e.layer, error: e.error });
          if (this.errors.length > 100) this.errors.shift();
          break;
      }
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    const due = this.stack.nextDeadline();
    if (due === undefined || due >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = due;
    this.timer = setTimeout(
      () => {
        this.timerAt = Number.POSITIVE_INFINITY;
        if (!this.closed) this.run(this.stack.advance(this.now()));
      },
      Math.max(0, due - this.now()),
    );
    this.timer.unref?.();
  }

  // ------------------------------------------------------------------ events from the stack

  private emit<E extends keyof GroupEvents>(event: E, ...args: Parameters<GroupEvents[E]>): void {
    for (const l of this.listeners[event]) (l as (...a: Parameters<GroupEvents[E]>) => void)(...args);
  }

  private onUp(ev: UpEvent): void {
    switch (ev.type) {
      case 'deliver':
        this.onDeliver(ev.msg, ev.from, ev.cast, ev.meta.viewId, ev.meta.gseq, ev.meta.qos);
        return;
      case 'view':
        this.onView(ev.view, ev.delta);
        return;
      case 'suspect':
        this.emit('suspect', { member: ev.member, silentMs: ev.silentMs });
        return;
      case 'block':
        this.emit('block');
        return;
      case 'partitioned':
        this.emit('partitioned', { viewId: ev.viewId, reason: ev.reason });
        if ((this.opts.onPartition ?? 'rejoin') === 'rejoin' && !this.closed)
          queueMicrotask(() => this.start());
        return;
      case 'left':
        this.leaving?.();
        return;
      default:
        return;
    }
  }

  private onDeliver(
    msg: Msg,
    from: MemberId,
    cast: boolean,
    viewId: number | undefined,
    gseq: number | undefined,
    qos: QoS | undefined,
  ): void {
    const h = headerTuple(msg.headers[0], 'group', 1);
    const kind = headerUint(h[0], 'group', 'kind');
    if (kind === GroupKind.App) {
      const d: Delivery = {
        payload: msg.payload,
        sender: from,
        qos: qos ?? { order: 'fifo' },
        viewId: viewId ?? this.installed?.id ?? 0,
        p2p: !cast,
        ...(gseq !== undefined ? { gseq } : {}),
      };
      this.hold(() => this.emit('deliver', d));
      return;
    }
    if (kind === GroupKind.StateChunk && this.receiver) {
      const v = headerUint(h[1], 'group', 'viewId');
      const state = this.receiver.accept(
        v,
        headerUint(h[2], 'group', 'index'),
        headerUint(h[3], 'group', 'count'),
        msg.payload,
      );
      this.sendControl(from, [GroupKind.StateAck, v, this.receiver.received]);
      if (state) this.restored(state);
      return;
    }
    if (kind === GroupKind.StateAck) {
      const s = this.senders.get(from);
      if (!s || headerUint(h[1], 'group', 'viewId') !== s.viewId) return;
      s.ack(headerUint(h[2], 'group', 'received'));
      this.pump(s);
      return;
    }
  }

  private sendControl(to: MemberId, header: unknown[], payload: Uint8Array = EMPTY): void {
    this.down({ type: 'send', to, msg: { headers: [header], payload }, qos: { order: 'fifo' } });
  }

  private pump(s: StateSender): void {
    for (const [header, bytes] of s.pull()) this.sendControl(s.joiner, header, bytes);
    if (s.done) this.senders.delete(s.joiner);
  }

  /** Run now, or after the state arrives if this joiner is still waiting for it. */
  private hold(fn: () => void): void {
    if (this.held) this.held.push(fn);
    else fn();
  }

  private onView(view: View, delta: import('../stack/types.js').ViewDelta | undefined): void {
    const previous = this.installed;
    this.installed = view;
    const change: ViewChange = {
      view,
      previousId: delta?.previousId,
      joined: delta?.joined ?? [],
      left: delta?.left ?? [],
      failed: delta?.failed ?? [],
    };
    const state = this.opts.state;
    if (!previous) {
      const others = view.members.filter((m) => !change.joined.includes(m));
      if (state && others.length > 0) {
        // A joiner of a running group: nothing is delivered until the state as of this view is in.
        this.receiver = new StateReceiver(view.id);
        this.held = [];
      }
      this.hold(() => this.emit('view', change));
      if (!this.held) this.joined?.resolve();
      return;
    }
    if (this.receiver && this.held) {
      // The member sending our state left before finishing: our state is lost; start over.
      const provider = previous.members.find((m) => !this.receiver || view.members.includes(m));
      if (!provider || !view.members.includes(provider)) {
        this.hold(() => this.emit('view', change));
        return;
      }
    }
    for (const j of [...this.senders.keys()]) if (!view.members.includes(j)) this.senders.delete(j);
    const veterans = view.members.filter((m) => !change.joined.includes(m));
    if (state && veterans[0] === this.member) {
      // The snapshot is taken here, between the last delivery of the old view and the first of
      // the new one: exactly the joiners' starting point.
      const snapshot = change.joined.length > 0 ? state.snapshot() : undefined;
      for (const j of change.joined) {
        const s = new StateSender(j, view.id, snapshot!);
        this.senders.set(j, s);
        this.pump(s);
      }
    }
    this.hold(() => this.emit('view', change));
  }

  private restored(state: Uint8Array): void {
    this.opts.state!.restore(state);
    const held = this.held ?? [];
    this.held = undefined;
    this.receiver = undefined;
    for (const fn of held) fn();
    this.joined?.resolve();
  }
}

/** Join (or found) the group `groupName`. See {@link Group}. */
export function joinGroup(groupName: string, options: JoinOptions): Promise<Group> {
  return Group.join(groupName, options);
}
