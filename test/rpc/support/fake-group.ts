/**
 * UNIT-TEST DOUBLE — not the group engine. A deterministic, in-memory stand-in for
 * `GroupHandle` (runtime/group/types.ts) so the RPC runtime can be tested before the real
 * engine lands; the engine's own integration tests replace it later.
 *
 * What it models, and how:
 * - **Total order:** one sequencer (the {@link FakeGroup}) numbers every cast the moment it is
 *   made and queues it for every live member; all members therefore deliver the same casts in
 *   the same order. `gseq` restarts at 0 in each view.
 * - **Views, virtual synchrony:** `join`, `leave` and `crash` install a new view by queueing the
 *   view event behind every delivery already queued, so each survivor delivers the same
 *   messages before the next view.
 * - **State transfer:** at a join, the coordinator's `StateProvider.snapshot()` is taken when
 *   the join reaches the head of the queue (between two deliveries), and the joiner's
 *   `restore()` runs before it delivers anything, told the provider and the state's origin.
 * - **Crash:** the member stops at once: nothing more is delivered to it, its sends are
 *   dropped, and casts it made that were held with {@link FakeGroup.holdCasts} are lost (they
 *   were never ordered). Unheld casts were ordered when made, so they are delivered to all.
 * - **Client packets:** a {@link FakeNet} routes raw bytes between addresses; members receive
 *   them through `onClientPacket`, clients through {@link FakeNet.transport}. `net.drop` can
 *   lose packets.
 *
 * Everything runs from one FIFO queue drained in `setImmediate` turns, so a test's timers and
 * promises interleave with deliveries in a reproducible order.
 */
import type {
  Delivery,
  GroupEvents,
  GroupHandle,
  StateProvider,
  ViewChange,
} from '../../../runtime/group/types.js';
import type { MemberId } from '../../../runtime/stack/member.js';
import type { QoS, View } from '../../../runtime/stack/types.js';
import type { Transport, TransportStats } from '../../../runtime/transport/types.js';

type Handler = (bytes: Uint8Array, from: string) => void;

/** The in-memory network and the one scheduler every fake shares. */
export class FakeNet {
  private readonly endpoints = new Map<string, Handler>();
  private readonly queue: Array<() => void> = [];
  private scheduled = false;
  /** Return true to lose the packet `from` → `to` (counted in {@link dropped}). */
  drop: (from: string, to: string, bytes: Uint8Array) => boolean = () => false;
  dropped = 0;
  /** Every raw packet routed, for tests that inspect traffic. */
  readonly log: Array<{ from: string; to: string; bytes: Uint8Array }> = [];

  /** Runs `fn` in a later scheduler turn, after everything queued before it. */
  schedule(fn: () => void): void {
    this.queue.push(fn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    for (const fn of batch) fn();
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Resolves once the queue stayed empty for a few turns (promises in between settled). */
  async settle(): Promise<void> {
    let quiet = 0;
    while (quiet < 3) {
      await new Promise((r) => setImmediate(r));
      quiet = this.queue.length === 0 ? quiet + 1 : 0;
    }
  }

  listen(address: string, handler: Handler): void {
    this.endpoints.set(address, handler);
  }

  unlisten(address: string): void {
    this.endpoints.delete(address);
  }

  route(from: string, to: string, bytes: Uint8Array): void {
    if (this.drop(from, to, bytes)) {
      this.dropped++;
      return;
    }
    this.log.push({ from, to, bytes });
    const copy = bytes.slice();
    this.schedule(() => this.endpoints.get(to)?.(copy, from));
  }

  /** A client transport at `address` on this network. */
  transport(address: string): Transport {
    const net = this;
    const counters: TransportStats = { sent: 0, received: 0, dropped: 0 };
    let closed = false;
    return {
      address,
      maxDatagram: 65_000,
      multicast() {},
      setPeers() {},
      send(to, bytes) {
        if (closed) return;
        counters.sent++;
        net.route(address, to, bytes);
      },
      onPacket(handler) {
        net.listen(address, (bytes, from) => {
          counters.received++;
          handler(bytes, from);
        });
      },
      stats: () => ({ ...counters }),
      async close() {
        closed = true;
        net.unlisten(address);
      },
    };
  }
}

/** One group: the sequencer, the views, and its members. */
export class FakeGroup {
  private readonly members: FakeMember[] = [];
  private viewId = 0;
  private gseq = 0;
  private readonly held = new Map<MemberId, Array<{ payload: Uint8Array; qos: QoS }>>();

  /**
   * @param firstNode node number of the first member: a group founded again on the same network
   *   (a re-founded group, view ids from 1) takes new numbers, as new incarnations have new ids.
   */
  /** As `Group.history`: one per founding; a group founded again on the same network has another. */
  readonly history: number;

  constructor(
    readonly net: FakeNet,
    readonly name: string,
    private nextNode = 1,
  ) {
    this.history = nextNode;
  }

  /** The current view (as the sequencer knows it). */
  get view(): View {
    const live = this.members.filter((m) => m.inGroup);
    return { id: this.viewId, members: live.map((m) => m.self), addresses: live.map((m) => m.address) };
  }

  /**
   * Adds a member. Its `state` provider takes part in state transfer: it is restored from the
   * coordinator's snapshot at the join point, and later answers snapshots for joiners.
   */
  join(opts: { state?: StateProvider; address?: string } = {}): FakeMember {
    const node = this.nextNode++;
    const self = `${node.toString(16).padStart(8, '0')}.1`;
    const m = new FakeMember(this, self, opts.address ?? `10.0.0.${node}:4000`, opts.state);
    const coordinator = this.members.find((x) => x.inGroup);
    this.members.push(m);
    const view = this.bumpView();
    this.net.schedule(() => {
      if (!coordinator?.alive || !coordinator.state || !m.state) return;
      // As the group core does: the snapshot's origin is taken with it (the provider's own
      // unconfirmed origin, else the provider), and the joiner is told both.
      const state = coordinator.state.snapshot();
      const origin = coordinator.state.stateOrigin?.() ?? coordinator.self;
      m.state.restore(state, { provider: coordinator.self, origin });
    });
    this.announce(view, { joined: [self], left: [], failed: [] });
    return m;
  }

  /** The member stops now; the survivors install a view without it. */
  crash(m: FakeMember): void {
    if (!m.alive) return;
    m.stop();
    this.held.delete(m.self);
    this.announce(this.bumpView(), { joined: [], left: [], failed: [m.self] });
  }

  /**
   * The member is cut off (a partition, or excluded): its process and sockets stay up, it is
   * told it is `partitioned`, it gets no more deliveries or views, and the others install a view
   * without it.
   */
  partition(m: FakeMember): void {
    if (!m.inGroup) return;
    m.cutOff(this.viewId);
    this.held.delete(m.self);
    this.announce(this.bumpView(), { joined: [], left: [], failed: [m.self] });
  }

  /** The member leaves cleanly. */
  leave(m: FakeMember): void {
    if (!m.alive) return;
    m.stop();
    this.announce(this.bumpView(), { joined: [], left: [m.self], failed: [] });
  }

  /** While on, `m`'s casts are held back instead of ordered (released by turning it off). */
  holdCasts(m: FakeMember, on: boolean): void {
    if (on) {
      this.held.set(m.self, this.held.get(m.self) ?? []);
      return;
    }
    const casts = this.held.get(m.self) ?? [];
    this.held.delete(m.self);
    for (const c of casts) this.order(m, c.payload, c.qos);
  }

  /** @internal */
  cast(from: FakeMember, payload: Uint8Array, qos: QoS): void {
    const held = this.held.get(from.self);
    if (held) held.push({ payload, qos });
    else this.order(from, payload, qos);
  }

  private order(from: FakeMember, payload: Uint8Array, qos: QoS): void {
    const viewId = this.viewId;
    const gseq = qos.order === 'total' ? this.gseq++ : undefined;
    const copy = payload.slice();
    for (const m of this.members.filter((x) => x.inGroup)) {
      this.net.schedule(() => m.deliver({ payload: copy, sender: from.self, qos, viewId, gseq, p2p: false }));
    }
  }

  /** @internal */
  send(from: FakeMember, to: MemberId, payload: Uint8Array): void {
    const target = this.members.find((m) => m.self === to && m.inGroup);
    if (!target) return;
    const copy = payload.slice();
    const viewId = this.viewId;
    this.net.schedule(() =>
      target.deliver({ payload: copy, sender: from.self, qos: { order: 'fifo' }, viewId, p2p: true }),
    );
  }

  private bumpView(): View {
    this.viewId++;
    this.gseq = 0;
    return this.view;
  }

  private announce(view: View, delta: Omit<ViewChange, 'view' | 'previousId'>): void {
    const targets = this.members.filter((m) => view.members.includes(m.self));
    for (const m of targets) this.net.schedule(() => m.installView(view, delta));
  }
}

/** A fake member: implements `GroupHandle` on top of {@link FakeGroup}. */
export class FakeMember implements GroupHandle {
  alive = true;
  /** As `Group.speaking`; a test sets it to play membership's judgement (a long stop, a lost majority). */
  speaking = true;
  /** Cut off by {@link FakeGroup.partition}: up, but no longer a member. */
  private cut = false;
  private installed: View | undefined;
  private readonly listeners: { [E in keyof GroupEvents]: Set<GroupEvents[E]> } = {
    deliver: new Set(),
    view: new Set(),
    suspect: new Set(),
    lagging: new Set(),
    partitioned: new Set(),
    block: new Set(),
    stable: new Set(),
  };

  constructor(
    private readonly group: FakeGroup,
    readonly self: MemberId,
    readonly address: string,
    readonly state: StateProvider | undefined,
  ) {}

  get groupName(): string {
    return this.group.name;
  }

  get view(): View | undefined {
    return this.installed;
  }

  /** As `Group.history`: its group's, once it installed a view. */
  get history(): number | undefined {
    return this.installed ? this.group.history : undefined;
  }

  cast(payload: Uint8Array, qos: QoS = { order: 'total' }): void {
    if (this.alive) this.group.cast(this, payload, qos);
  }

  send(to: MemberId, payload: Uint8Array): void {
    if (this.alive) this.group.send(this, to, payload);
  }

  on<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    (this.listeners[event] as Set<GroupEvents[E]>).add(listener);
  }

  off<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void {
    (this.listeners[event] as Set<GroupEvents[E]>).delete(listener);
  }

  onClientPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    if (this.alive) this.group.net.listen(this.address, handler);
  }

  sendRaw(address: string, bytes: Uint8Array): void {
    if (this.alive) this.group.net.route(this.address, address, bytes);
  }

  async leave(): Promise<void> {
    this.group.leave(this);
  }

  /** Alive and still a member of the group. */
  get inGroup(): boolean {
    return this.alive && !this.cut;
  }

  /** @internal */
  cutOff(viewId: number): void {
    this.cut = true;
    for (const l of this.listeners.partitioned) l({ viewId, reason: 'cut off by the test' });
  }

  /** @internal */
  deliver(d: Delivery): void {
    if (!this.inGroup || !this.installed) return;
    for (const l of this.listeners.deliver) l(d);
  }

  /** @internal */
  installView(view: View, delta: Omit<ViewChange, 'view' | 'previousId'>): void {
    if (!this.inGroup) return;
    const previousId = this.installed?.id;
    this.installed = view;
    for (const l of this.listeners.view) l({ view, previousId, ...delta });
  }

  /** @internal */
  stop(): void {
    this.alive = false;
    this.group.net.unlisten(this.address);
  }
}
