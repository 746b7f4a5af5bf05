import { type AppEvent, type CoreEffect, MemberCore } from '../../runtime/group/core.js';
import { CAST_BATCH } from '../../runtime/group/group.js';
import { RejoinDamper } from '../../runtime/group/health.js';
import type { StateProvider } from '../../runtime/group/types.js';
import type { LayerRegistry } from '../../runtime/stack/builder.js';
import { buildStack } from '../../runtime/stack/builder.js';
import { type MemberId, memberId } from '../../runtime/stack/member.js';
import { type RandomSource, seededRandom } from '../../runtime/stack/random.js';
import type { Effect, LastView, LayerSpec, QoS, UpEvent, View } from '../../runtime/stack/types.js';
import { PacketType } from '../../runtime/wire/packet.js';
import { type DeliveryMode, Links, multicastTargets } from './network.js';
import { EventQueue } from './queue.js';
import { SlowPlan } from './slow.js';

export type Fault = 'loss' | 'dup' | 'reorder' | 'delay' | 'crash' | 'pause' | 'partition' | ExtraFault;
/**
 * Faults beyond the original seven, opt-in (not in {@link ALL_FAULTS}, so CI's existing steps
 * keep their seeds): `splits` splits and heals repeatedly in patterns (2|2, 1|1|1, a majority
 * and a minority swapping), `links` cuts links one way and non-transitively, `skew` offsets
 * and drifts each member's and client's wall clock (test/sim/patterns.ts plans those three); `slow` makes members slow but alive
 * (test/sim/slow.ts). `zombie` stops a member (often the sequencer) past the failure detector's
 * whole patience and lets it run on, `churn` crashes or isolates whoever is the sequencer again
 * and again, `flushcut` heals or re-splits a partition the instant a flush starts
 * (test/sim/patterns.ts). `clients` puts the RPC clients in the partitions too: while the
 * members are split, each client is on one side (drawn per split), so it may reach only a
 * minority, or lose its contact to the other side; otherwise clients reach every member.
 * `straggle` holds one packet in a hundred for 0.3–4 s (a datagram stuck in a queue, an
 * overloaded switch, a replaying middlebox), and a packet that arrives at an address after its
 * process was restarted reaches the new process there, as UDP and a reused port would do it
 * (without it the simulator drops every packet sent to an earlier process). `lossy` makes one
 * member's link lose 30–80 % of its packets, inbound, outbound or both, for 0.3–3 s at a time
 * (a bad NIC or a congested port: alive, reachable, but most of what it sends or hears is lost;
 * test/sim/patterns.ts). `replay` sends one packet in three hundred again 4–20 s later, member to
 * member or between a member and a client (a middlebox or a retransmitting link replaying old
 * datagrams; without a key nothing tells such a copy from a fresh one), to whichever process
 * is at the address by then; it draws from its own generator, so a seed's other faults stay.
 * `flap` splits and heals every 80–400 ms for 2–5 s, quicker than the failure detector's
 * patience, so views start and are overtaken while the network keeps changing
 * (test/sim/patterns.ts). `mtu` makes one member's link drop every datagram over a size
 * (500–1,400 bytes), inbound, outbound or both, for 0.5–4 s at a time, while smaller ones pass:
 * a path MTU black hole or a firewall that drops IP fragments (a tunnel, a VPN, filtered ICMP).
 * Heartbeats and small control messages get through, so the member is heard and reachable,
 * but its large packets (packed batches, fragments of large casts, state chunks) are lost.
 * `blackout` crashes every member, or every member but one (drawn per seed), within 4 ms of each
 * other at a moment during the load (a rack's power, a bad deploy), and restarts each crashed
 * member as a new incarnation at its own time 0.2–3 s later (with `persist` it remembers the
 * view its predecessor was last in). Nothing else takes down a majority on purpose: RPC mode's
 * crashes keep the primary partition (`safeToStop`), group mode's crash a minority
 * (test/sim/patterns.ts `planBlackout`; what must still hold: test/sim/blackout.ts).
 * `cnap` (RPC mode) stops a client process for 0.3–4 s, once or twice per client, and with
 * `blackout` also the client whose contact the blackout took, from the moment it strikes until
 * after the group is founded again: nothing of it runs (its timers, its application), and what
 * reached its address meanwhile is read in one go when it wakes, as a stopped process's socket
 * buffer is (test/sim/rpc-scenario.ts `planNaps`).
 * `ccut` (RPC mode) cuts one client off from the member that is its contact at the moment, and
 * from no other, one way or both, for 0.3–1.5 s, two or three times per client: the contact stays
 * in the group and goes on with the client's calls while the client fails over, or (one way) hears
 * the client and cannot answer it, or answers and is not heard (test/sim/rpc-scenario.ts
 * `planContactCuts`). `flushnap` stops a member the instant a flush starts (the member told to
 * block, the view's coordinator or another, 0–10 ms after), for 50–1,500 ms, one to three times:
 * a member paused across a view change, before or after it answered its step
 * (test/sim/patterns.ts `planFlushNap`). `aflap` is `flap` one way: every 80–400 ms for 2–5 s a
 * member goes deaf or mute, or one side's packets stop reaching the other while the reverse
 * still arrive, then all is restored for 80–400 ms (`planAsymFlap`).
 * `ciso` (RPC mode) cuts a client's contact off from every other member, both ways, for 0.4–2.5 s
 * (long enough to be excluded, and it rejoins as `--rejoin` says), two or three times, each while
 * an async method runs there when one does within 1 s; the client still reaches it, so a call
 * in flight straddles its contact's exclusion and rejoin (test/sim/rpc-scenario.ts
 * `planContactIsolation`). `xfer` strikes the instant a member takes a state snapshot for a
 * joiner (a state transfer starts): the provider is stopped or cut off from the others, or the
 * network heals or splits under the transfer (test/sim/patterns.ts `planStateTransferCut`).
 */
export type ExtraFault =
  | 'splits'
  | 'links'
  | 'skew'
  | 'slow'
  | 'zombie'
  | 'churn'
  | 'flushcut'
  | 'clients'
  | 'straggle'
  | 'lossy'
  | 'replay'
  | 'flap'
  | 'mtu'
  | 'blackout'
  | 'cnap'
  | 'ccut'
  | 'flushnap'
  | 'aflap'
  | 'ciso'
  | 'xfer';
export const EXTRA_FAULTS: readonly ExtraFault[] = [
  'splits',
  'links',
  'skew',
  'slow',
  'zombie',
  'churn',
  'flushcut',
  'clients',
  'straggle',
  'lossy',
  'replay',
  'flap',
  'mtu',
  'blackout',
  'cnap',
  'ccut',
  'flushnap',
  'aflap',
  'ciso',
  'xfer',
];
export const ALL_FAULTS: readonly Fault[] = [
  'loss',
  'dup',
  'reorder',
  'delay',
  'crash',
  'pause',
  'partition',
];

export interface ScenarioConfig {
  seed: number;
  members: number;
  faults: ReadonlySet<Fault>;
  stack: readonly LayerSpec[];
  registry: LayerRegistry;
  /** Casts per member. */
  messages: number;
  /** QoS of each cast: a fixed one, or chosen per cast from the world's random source. */
  qos: QoS | ((rng: () => number) => QoS);
  /** Casting happens in [0, loadMs); faults in [0, faultMs); then quiet until endMs. */
  loadMs: number;
  faultMs: number;
  endMs: number;
  trace: boolean;
  /** How a multicast travels (test/sim/network.ts); default `multicast`. */
  delivery?: DeliveryMode;
  /** Up to this many bytes of padding per cast, after a NUL (`npm run sim -- --pad`). */
  padBytes?: number;
  /** Each planned cast is a burst of 1..burst casts at one instant, each with its own QoS
   * (`npm run sim -- --burst`): what the batch layer bundles. */
  burst?: number;
  /**
   * What a member cut off from the group (partitioned or excluded) does. `same`: the same
   * member core, application and state start a new incarnation at once, as the real driver
   * (`Group`, `onPartition: 'rejoin'`) does; `new`: a fresh process-like node (new core, new
   * application, fresh state) 1 ms later. Default `new`.
   */
  rejoin?: 'new' | 'same';
  /**
   * With `rejoin: 'same'`: damp rejoins as `Group` does (`HealthOptions.rejoinDampMs`, the
   * product's `RejoinDamper`): the new incarnation starts at once and is not admitted to a
   * running group before its wait. Undefined or 0: no damping (the default).
   */
  rejoinDampMs?: number;
  /**
   * Group mode: at this time every live member casts one totally ordered probe, which every
   * survivor must deliver by the end (the `progress` checker). Undefined: no probes.
   */
  probeAtMs?: number;
  /**
   * Members keep their last view on disk (`JoinOptions.membershipFile`): a process restarted
   * after a crash, or after a partition with `rejoin: 'new'`, remembers the view its predecessor
   * was last in. Default false: a restarted process remembers nothing.
   */
  persist?: boolean;
  /** One-way latency every packet takes on top of the random 0.2–0.5 ms (ms; default 0): a slow
   * network, where every stamp and every acknowledgement is late alike. */
  latencyMs?: number;
  /**
   * Group mode only: the application each member incarnation runs instead of the toy state
   * (RPC mode: a replica, test/sim/rpc-world.ts). It is the state provider, sees every
   * application event after the world recorded it, and receives the node's client packets.
   */
  app?: (world: World, index: number, address: string) => NodeApp;
  /**
   * Group mode: application deliveries of unreliable casts are counted in
   * {@link World.unreliableApart}, not recorded (nor applied to the toy state). The scenarios cast
   * none; a forger's in a member's name, from its address, is taken by design without a key (an
   * unreliable cast carries no number to check; test/sim/forge.ts).
   */
  unreliableApart?: boolean;
}

/**
 * One `blackout`: when it struck, which nodes it crashed (each at its own instant within 4 ms),
 * the node it spared (all but one), and when each crashed node's new process started.
 */
export interface Blackout {
  at: number;
  crashed: number[];
  spared: number | undefined;
  /** Per crashed node, when its restart is due. */
  restarts: { node: number; at: number }[];
}

/** An application on a simulated member (see {@link ScenarioConfig.app}). */
export interface NodeApp {
  state: StateProvider;
  /** Called once, when the incarnation's member id is known and before any of its events. */
  start(node: NodeHandle): void;
  /**
   * With `rejoin: 'same'`: the same application's member started a new incarnation (the
   * handle's `self` is now the new member id).
   */
  rejoined?(node: NodeHandle): void;
  event(ev: AppEvent): void;
  /** A `PacketType.Client` packet arrived at this node (it bypasses the stack, as in `Group`). */
  clientPacket(bytes: Uint8Array, from: string): void;
  /**
   * Casts the group checkers do not follow: a member may cast the same bytes again (RPC mode's
   * lock `acquire`/`release`), and those checkers name a message by its bytes. The application
   * checks them itself.
   */
  unrecorded?(payload: Uint8Array): boolean;
}

/** What a node's application may do: the member's side of a `GroupHandle`, in virtual time. */
export interface NodeHandle {
  readonly self: MemberId;
  readonly address: string;
  readonly view: View | undefined;
  /** As `Group.history`: the history this member's state belongs to, once settled. */
  readonly history: number | undefined;
  /** As `Group.speaking`: whether the member may answer clients now. */
  readonly speaking: boolean;
  /** False once this incarnation crashed or was stopped. */
  readonly alive: boolean;
  /** As `Group.cast`: made while the node hands out effects (from an event), it waits for the
   * node's next turn. */
  cast(payload: Uint8Array, qos: QoS): void;
  send(to: MemberId, payload: Uint8Array): void;
  /** Raw bytes to a transport address (a non-member client), over the faulty network. */
  sendRaw(to: string, bytes: Uint8Array): void;
}

/** One member incarnation's record, kept after it crashes. */
export interface Incarnation {
  node: number;
  member: MemberId;
  startedAt: number;
  crashedAt: number | null;
  casts: string[];
  /** Delivered payloads with their sender, in delivery order. */
  delivered: SimDelivery[];
  /** Views installed, in order. */
  views: { id: number; epoch?: number; members: readonly MemberId[]; at: number }[];
  /** Set when membership stopped this incarnation (minority or excluded). */
  partitionedAt: number | null;
  /** The toy replicated state (group mode): a hash chain over totally ordered deliveries, an
   * order-free digest of the others, and a count. Equal states mean equal histories. */
  state: AppState;
  /** Set when this incarnation restored its state from a member (it joined a running group). */
  restoredAt: number | null;
  errors: string[];
  stats: () => Record<string, Record<string, number>>;
}

export interface SimDelivery {
  from: MemberId;
  payload: string;
  viewId?: number;
  gseq?: number;
  order?: string;
  resilience?: string;
  /** For `resilience: 'k'`. */
  k?: number;
}

/** Identity of a view across members: id and membership (two lineages never share both). */
export const viewKey = (v: { id: number; epoch?: number; members: readonly MemberId[] }) =>
  `${v.id}.${v.epoch ?? 0}[${v.members.join(',')}]`;

export interface AppState {
  chain: number;
  others: number;
  count: number;
}

type NodeEffect = Effect | CoreEffect;

/** What the world drives on a node: a bare stack, or a member core (group mode). */
interface Runner {
  receive(bytes: Uint8Array, from: string, now: number): NodeEffect[];
  advance(now: number): NodeEffect[];
  cast(payload: Uint8Array, qos: QoS, now: number): NodeEffect[];
  nextDeadline(): number | undefined;
}

/** FNV-1a over a string, continuing from `h`. */
function fnv(h: number, text: string): number {
  let x = h >>> 0 || 0x811c9dc5;
  for (let i = 0; i < text.length; i++) x = Math.imul(x ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return x;
}

interface Node {
  index: number;
  address: string;
  inc: number;
  runner: Runner;
  /** Group mode: the member core (rejoined in place with `rejoin: 'same'`). */
  core?: MemberCore;
  /** Addresses of the last view's other members (the `peers` effect): fan-out's targets. */
  peers: string[];
  rec: Incarnation;
  alive: boolean;
  pausedUntil: number;
  /** Wake-up time for the stack's timers that is already queued. */
  wakeAt: number;
  app?: NodeApp;
  /** `rejoinDampMs`: this node's damping across its incarnations. */
  damper?: RejoinDamper;
  /** Nesting depth of {@link World.apply} on this node: above 0 while its effects are handed out
   * (`Group`'s `handling`). */
  handling: number;
  /** Casts waiting for the node's next turn (`Group`'s `outbox`), oldest first: each runs the core. */
  outbox: (() => NodeEffect[])[];
  /** A `rejoin: 'same'` restart is due in this turn (`Group` starts it in a microtask). */
  rejoining: boolean;
}

const decoder = new TextDecoder();
const base64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const encoder = new TextEncoder();

/**
 * The deterministic world: members over a simulated network in virtual time. One seeded
 * random source decides every choice, so a seed replays byte for byte.
 */
export class World {
  readonly queue = new EventQueue();
  /** Slow-but-alive members (the `slow` fault, test/sim/slow.ts). */
  readonly slow = new SlowPlan();
  /** `lossy`: per node, the share of its inbound and outbound packets lost now (0: none). */
  private readonly lossyIn: number[];
  private readonly lossyOut: number[];
  /** Draws for `lossy` alone, so its losses leave the world's own draws as they were. */
  private readonly lossyRng: () => number;
  /** `mtu`: per node, the largest datagram its inbound and outbound link carry now (0: any). */
  private readonly mtuIn: number[];
  private readonly mtuOut: number[];
  /** Draws `replay`'s copies and their delays. */
  private readonly replayRng: () => number;
  readonly rng: RandomSource;
  readonly trace: string[] = [];
  now = 0;
  readonly nodes: Node[] = [];
  readonly incarnations: Incarnation[] = [];
  /** Who reaches whom: partitions and cut links. */
  readonly links: Links;
  /** Probe casts (see {@link ScenarioConfig.probeAtMs}): payload, caster, time. */
  readonly probes: { payload: string; member: MemberId; at: number }[] = [];
  /** Per address (member `nK` or client `cK`): wall-clock offset at virtual time `now`. */
  readonly skew = new Map<string, (now: number) => number>();
  /** Called with the node's index whenever a member is told to block (a flush starts there):
   * lets a fault plan strike during a flush (`flushcut`). */
  readonly blockHooks: ((node: number) => void)[] = [];
  /** Called with the node's index whenever a member takes a state snapshot (a state transfer to
   * a joiner starts there): `xfer`. Called inside the member's step: act in a later event. */
  readonly snapshotHooks: ((node: number) => void)[] = [];
  /**
   * What `straggle`, `lossy`, `replay` and `mtu` did: packets held back 0.3 s or more, packets
   * that reached a later process at their address, packets a lossy link lost, packets sent
   * again, packets over a link's size limit dropped.
   */
  readonly netFaults = { late: 0, handedOver: 0, lossy: 0, replayed: 0, oversized: 0 };
  /** Application unreliable casts delivered and not recorded (`unreliableApart`). */
  unreliableApart = 0;
  /** What `blackout` did (test/sim/patterns.ts): empty without it. */
  readonly blackouts: Blackout[] = [];
  /** Every pause (`pause`, `zombie`): which node, from when, until when it runs again. */
  readonly pauses: { node: number; at: number; until: number }[] = [];
  /** Non-member endpoints (RPC clients) by address; partitioned only under `clients`. */
  private readonly endpoints = new Map<string, (bytes: Uint8Array, from: string) => void>();
  /** Under `ccut`: `client>n<index>` (the client's packets to the node are lost), `n<index>>client`. */
  private readonly clientLinksCut = new Set<string>();
  /** Under `clients`: each endpoint's side of the current split (none: it reaches every member). */
  private readonly clientSides = new Map<string, number>();
  /** Draws the clients' sides; its own generator, so the other faults' plans stay as they were. */
  private readonly clientRng: RandomSource;
  /** Draws each cast's padding (`padBytes`); its own generator, for the same reason. */
  private readonly padRng: RandomSource;
  /** Draws each burst's size (`burst`); its own generator, so bursts shift no other draw. */
  private readonly burstRng: RandomSource;
  /**
   * Called with every packet a member hands to the network (before loss), its sender node's index
   * and its destination address (`null`: a cast): test/sim/forge.ts captures packets here.
   */
  readonly taps: ((src: number, to: string | null, bytes: Uint8Array) => void)[] = [];

  constructor(readonly cfg: ScenarioConfig) {
    this.rng = seededRandom(cfg.seed);
    this.clientRng = seededRandom(cfg.seed * 151 + 19);
    this.padRng = seededRandom(cfg.seed * 157 + 23);
    this.burstRng = seededRandom(cfg.seed * 163 + 29);
    this.links = new Links(cfg.members);
    this.lossyIn = new Array<number>(cfg.members).fill(0);
    this.lossyOut = new Array<number>(cfg.members).fill(0);
    this.lossyRng = seededRandom(cfg.seed * 167 + 31);
    this.mtuIn = new Array<number>(cfg.members).fill(0);
    this.mtuOut = new Array<number>(cfg.members).fill(0);
    this.replayRng = seededRandom(cfg.seed * 173 + 37);
    for (let i = 0; i < cfg.members; i++) this.nodes.push(this.start(i, 1));
  }

  /** The wall clock (`Date.now`) of the process at `address`: virtual time plus its skew. */
  wall(address: string): number {
    const skew = this.skew.get(address);
    return this.now + (skew ? skew(this.now) : 0);
  }

  log(line: string): void {
    if (this.cfg.trace) this.trace.push(`${this.now.toFixed(3)} ${line}`);
  }

  private start(index: number, inc: number, remembered?: LastView): Node {
    const node = Math.floor(this.rng() * 0xffffffff) >>> 0;
    const address = `n${index}`;
    const stackRng = seededRandom(Math.floor(this.rng() * 0xffffffff));
    const tracer = this.cfg.trace ? (l: string) => this.log(`${address} ${l}`) : undefined;
    const seeds = Array.from({ length: this.cfg.members }, (_, k) => `n${k}`);
    const specs = this.cfg.stack.map((l) =>
      l.name === 'gms' ? { ...l, options: { ...l.options, seeds, address } } : l,
    );
    const makeStack = (me: MemberId) =>
      buildStack(specs, this.cfg.registry, {
        self: me,
        groupName: 'sim',
        random: stackRng,
        ...(tracer ? { tracer } : {}),
      });
    let runner: Runner;
    let stats: () => Record<string, Record<string, number>>;
    let self: MemberId;
    const state: AppState = { chain: 0, others: 0, count: 0 };
    let app: NodeApp | undefined;
    let coreOf: MemberCore | undefined;
    if (this.isGroup) {
      app = this.cfg.app?.(this, index, address);
      const core = new MemberCore({
        groupName: 'sim',
        node,
        makeStack,
        state: app
          ? {
              snapshot: () => {
                for (const hook of [...this.snapshotHooks]) hook(n.index);
                return app!.state.snapshot();
              },
              restore: (b, source) => {
                app!.state.restore(b, source);
                n.rec.restoredAt = this.now;
              },
              stateOrigin: () => app!.state.stateOrigin?.(),
            }
          : {
              // The node's current record: with `rejoin: 'same'` the core outlives incarnations.
              snapshot: () => {
                for (const hook of [...this.snapshotHooks]) hook(n.index);
                return encoder.encode(JSON.stringify(n.rec.state));
              },
              restore: (b) => {
                n.rec.state = JSON.parse(decoder.decode(b)) as AppState;
                n.rec.restoredAt = this.now;
              },
            },
      });
      runner = {
        receive: (b, f, t) => core.receive(b, f, t),
        advance: (t) => core.advance(t),
        cast: (payload, qos, t) => core.cast(payload, qos, t),
        nextDeadline: () => core.nextDeadline(),
      };
      if (remembered) core.remember(remembered);
      const first = core.start(this.now);
      self = core.self;
      stats = () => core.stats();
      coreOf = core;
      app?.start(this.handle(() => n, inc, address, core));
      this.queue.push(this.now, () => this.onNode(n, inc, () => first));
    } else {
      self = memberId({ node, inc });
      const stack = makeStack(self);
      runner = {
        receive: (b, f, t) => stack.receive(b, f, t),
        advance: (t) => stack.advance(t),
        cast: (payload, qos, t) => stack.down({ type: 'cast', msg: { headers: [], payload }, qos }, t),
        nextDeadline: () => stack.nextDeadline(),
      };
      stats = () => stack.stats();
    }
    const rec: Incarnation = {
      node: index,
      member: self,
      startedAt: this.now,
      crashedAt: null,
      casts: [],
      delivered: [],
      views: [],
      partitionedAt: null,
      state,
      restoredAt: null,
      errors: [],
      stats,
    };
    this.incarnations.push(rec);
    const n: Node = {
      index,
      address,
      inc,
      runner,
      ...(coreOf ? { core: coreOf } : {}),
      // A bare stream stack has no views to name its peers: fan-out goes to every other node,
      // as an application would configure its transport's peer list.
      peers: this.isGroup ? [] : seeds.filter((a) => a !== address),
      rec,
      alive: true,
      pausedUntil: 0,
      wakeAt: Number.POSITIVE_INFINITY,
      ...(app ? { app } : {}),
      handling: 0,
      outbox: [],
      rejoining: false,
    };
    this.log(`${address} start as ${self}`);
    return n;
  }

  private handle(node: () => Node, inc: number, address: string, core: MemberCore): NodeHandle {
    const live = () => node().alive && node().inc === inc;
    const now = () => this.now;
    return {
      self: core.self,
      address,
      get view() {
        return core.view;
      },
      get history() {
        return core.history;
      },
      get speaking() {
        return core.speaks(now());
      },
      get alive() {
        return live();
      },
      cast: (payload, qos) =>
        this.groupCast(node(), inc, () => {
          if (!node().app?.unrecorded?.(payload)) node().rec.casts.push(base64(payload));
          return core.cast(payload, qos, this.now);
        }),
      send: (to, payload) => this.onNode(node(), inc, () => core.send(to, payload, this.now)),
      sendRaw: (to, bytes) => {
        if (live()) this.transmit(node(), to, bytes);
      },
    };
  }

  /**
   * A datagram from transport address `from` reaching node `index`'s current process now, off the
   * simulated network (no loss, no delay): a forger's (test/sim/forge.ts, spoof.ts). Client packets
   * go to the application, as {@link transmit} routes them.
   */
  injectRaw(index: number, from: string, bytes: Uint8Array): void {
    const n = this.nodes[index]!;
    this.onNode(n, n.inc, () => {
      if (n.app && bytes.length > 2 && bytes[2] === PacketType.Client) {
        n.app.clientPacket(bytes, from);
        return [];
      }
      return n.runner.receive(bytes, from, this.now);
    });
  }

  /**
   * A datagram from transport address `from` reaching the non-member endpoint (an RPC client) at
   * `address` now, off the simulated network: a forger's (test/sim/forge-client.ts).
   */
  injectToEndpoint(address: string, from: string, bytes: Uint8Array): void {
    this.endpoints.get(address)?.(bytes, from);
  }

  /** A non-member endpoint (an RPC client) at `address`: it receives what members send there. */
  addEndpoint(address: string, receive: (bytes: Uint8Array, from: string) => void): void {
    this.endpoints.set(address, receive);
  }

  /** A packet from a non-member endpoint to a node, with the same faults as between members. */
  sendFrom(from: string, to: string, bytes: Uint8Array): void {
    for (const dst of this.nodes.filter((d) => d.address === to)) {
      if (this.clientCut(from, dst.index) || this.clientLinksCut.has(`${from}>n${dst.index}`)) continue;
      if (this.lost(-1, dst.index)) continue;
      if (this.oversized(-1, dst.index, bytes.length)) continue;
      this.hop((delay) => {
        const inc = dst.inc;
        this.queue.push(this.now + delay, () =>
          this.onArrival(dst, inc, (n) => {
            n.app?.clientPacket(bytes, from);
            return [];
          }),
        );
      });
    }
  }

  /** Loss, duplication, delay and reordering of one packet; `deliver` is called per copy. */
  private hop(deliver: (delay: number) => void): void {
    if (this.faultOn('loss') && this.rng() < 0.1) return;
    const copies = this.faultOn('dup') && this.rng() < 0.05 ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let delay = 0.2 + (this.cfg.latencyMs ?? 0) + this.rng() * 0.3;
      if (this.faultOn('delay')) delay += this.rng() * 5;
      if (this.faultOn('reorder') && this.rng() < 0.2) delay += this.rng() * 20;
      if (this.faultOn('straggle') && this.rng() < 0.01) {
        delay += 300 + this.rng() * 3_700;
        this.netFaults.late++;
      }
      deliver(delay);
    }
    if (this.faultOn('replay') && this.replayRng() < 1 / 300) {
      this.netFaults.replayed++;
      deliver(4_000 + this.replayRng() * 16_000);
    }
  }

  /**
   * A packet sent to `dst` (then in incarnation `inc`) arrives: `fn` runs on that process, or
   * under `straggle` or `replay` on whichever process now runs at its address.
   */
  private onArrival(dst: Node, inc: number, fn: (n: Node) => NodeEffect[]): void {
    const n = this.cfg.faults.has('straggle') || this.cfg.faults.has('replay') ? this.nodes[dst.index]! : dst;
    if (n !== dst && n.alive) this.netFaults.handedOver++;
    this.onNode(n, n === dst ? inc : n.inc, () => fn(n));
  }

  /**
   * `lossy`: sets node `index`'s current inbound and outbound loss (0–1; 0 ends it).
   */
  setLossy(index: number, inbound: number, outbound: number): void {
    this.lossyIn[index] = inbound;
    this.lossyOut[index] = outbound;
    this.log(`LOSSY n${index} in ${inbound.toFixed(2)} out ${outbound.toFixed(2)}`);
  }

  /**
   * `mtu`: sets the largest datagram node `index`'s inbound and outbound link carries (bytes; 0
   * ends the limit).
   */
  setMtu(index: number, inbound: number, outbound: number): void {
    this.mtuIn[index] = inbound;
    this.mtuOut[index] = outbound;
    this.log(`MTU n${index} in ${inbound} out ${outbound}`);
  }

  /** Whether `mtu` drops a datagram of `size` bytes from node `src` to node `dst` (-1: a client,
   * whose own link has no limit). */
  private oversized(src: number, dst: number, size: number): boolean {
    const out = src >= 0 ? this.mtuOut[src]! : 0;
    const inb = dst >= 0 ? this.mtuIn[dst]! : 0;
    if ((out === 0 || size <= out) && (inb === 0 || size <= inb)) return false;
    this.netFaults.oversized++;
    return true;
  }

  /** Whether `lossy` loses a packet from node `src` to node `dst` (-1: a client, never lossy). */
  private lost(src: number, dst: number): boolean {
    const p = 1 - (1 - (src >= 0 ? this.lossyOut[src]! : 0)) * (1 - (dst >= 0 ? this.lossyIn[dst]! : 0));
    if (p === 0 || this.lossyRng() >= p) return false;
    this.netFaults.lossy++;
    return true;
  }

  /** Whether the stack runs membership (views, joins, partitions) or only reliable streams. */
  get isGroup(): boolean {
    return this.cfg.stack.some((l) => l.name === 'gms');
  }

  private faultOn(f: Fault): boolean {
    return this.cfg.faults.has(f) && this.now < this.cfg.faultMs;
  }

  /** `payload`'s bytes, then under `padBytes` a NUL and up to that many more (see {@link unpad}). */
  private padded(payload: string): Uint8Array {
    const bytes = encoder.encode(payload);
    const max = this.cfg.padBytes ?? 0;
    if (max <= 0) return bytes;
    const out = new Uint8Array(bytes.length + 1 + Math.floor(this.padRng() * max)).fill(0x2e);
    out.set(bytes);
    out[bytes.length] = 0;
    return out;
  }

  /** Run `fn` on a node when it is alive and not paused (a paused node's work waits). */
  private onNode(n: Node, inc: number, fn: () => NodeEffect[]): void {
    if (!n.alive || n.inc !== inc) return;
    const runsAt = Math.max(n.pausedUntil, this.slow.resumeAt(n.index, this.now));
    if (this.now < runsAt) {
      this.queue.push(runsAt, () => this.onNode(n, inc, fn));
      return;
    }
    this.apply(n, fn());
  }

  private apply(n: Node, effects: NodeEffect[], schedule = true): void {
    n.handling++;
    try {
      this.handOut(n, effects);
    } finally {
      n.handling--;
    }
    if (schedule) this.scheduleWake(n);
  }

  /**
   * `Group.cast`: a cast made while nothing waits and the node is not handing out effects goes
   * to the core at once; one made during that (a listener casting from a delivery or a view) or
   * behind waiting casts waits for the node's next turn (`setImmediate` in `Group`), taken at
   * the same virtual time after every event already due then. Run at once, such a cast's own
   * effects (a delivery, when the stack orders it at once) reached the application ahead of the
   * rest of the effects being handed out, which the real driver hands out first.
   */
  private groupCast(n: Node, inc: number, run: () => NodeEffect[]): void {
    if (!n.alive || n.inc !== inc) return;
    if (n.outbox.length === 0 && n.handling === 0) {
      this.onNode(n, inc, run);
      return;
    }
    n.outbox.push(run);
    if (n.outbox.length === 1) this.queue.push(this.now, () => this.drain(n, inc));
  }

  /** `Group.drain`: up to {@link CAST_BATCH} waiting casts in this turn, the rest in the next. */
  private drain(n: Node, inc: number): void {
    if (!n.alive || n.inc !== inc) return;
    // `Group` restarts a cut-off member in a microtask, before this turn: casts that waited go
    // to the new incarnation, as they do there.
    const runsAt = Math.max(n.pausedUntil, this.slow.resumeAt(n.index, this.now));
    if (n.rejoining || this.now < runsAt) {
      this.queue.push(Math.max(this.now, runsAt), () => this.drain(n, inc));
      return;
    }
    const batch = n.outbox.splice(0, CAST_BATCH);
    for (const run of batch) {
      if (!n.alive || n.inc !== inc) return;
      this.apply(n, run(), false);
    }
    this.scheduleWake(n);
    if (n.outbox.length > 0) this.queue.push(this.now, () => this.drain(n, inc));
  }

  private handOut(n: Node, effects: NodeEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'transmit':
          this.transmit(n, e.to, e.bytes);
          break;
        case 'up':
          this.onUp(n, e.event);
          break;
        case 'app':
          this.onApp(n, e.event);
          break;
        case 'error':
          n.rec.errors.push(`layer ${e.layer} threw: ${String((e.error as Error)?.stack ?? e.error)}`);
          break;
        case 'peers':
          n.peers = [...e.addresses];
          break;
      }
    }
  }

  /** Group mode: events from the member core, as an application sees them. */
  private onApp(n: Node, ev: AppEvent): void {
    this.recordApp(n, ev);
    if (ev.type !== 'snapshot') n.app?.event(ev);
  }

  private recordApp(n: Node, ev: AppEvent): void {
    switch (ev.type) {
      case 'block':
        for (const hook of [...this.blockHooks]) hook(n.index);
        return;
      case 'deliver': {
        const d = ev.delivery;
        if (n.app?.unrecorded?.(d.payload)) return;
        // The scenario casts none: under `unreliableApart` they are a forger's (test/sim/forge.ts).
        if (this.cfg.unreliableApart && d.qos.order === 'unreliable') {
          this.unreliableApart++;
          return;
        }
        // An application's payloads are binary: named by their base64 (distinct bytes, distinct names).
        const payload = n.app ? base64(d.payload) : unpad(decoder.decode(d.payload));
        const st = n.rec.state;
        if (d.qos.order === 'total') st.chain = fnv(st.chain, payload);
        else st.others = (st.others ^ fnv(0, payload)) >>> 0;
        st.count++;
        n.rec.delivered.push({
          from: d.sender,
          payload,
          viewId: d.viewId,
          ...(d.gseq !== undefined ? { gseq: d.gseq } : {}),
          order: d.qos.order,
          resilience: d.qos.resilience ?? 'none',
          ...(d.qos.k !== undefined ? { k: d.qos.k } : {}),
        });
        this.log(`${n.address} deliver ${payload} from ${d.sender} v${d.viewId} g${d.gseq ?? '-'}`);
        return;
      }
      case 'view':
        this.onUp(n, { type: 'view', view: ev.change.view });
        return;
      case 'partitioned':
        this.onUp(n, ev);
        return;
      case 'snapshot':
        this.apply(n, ev.take(this.now));
        return;
      default:
        return;
    }
  }

  private onUp(n: Node, ev: UpEvent): void {
    switch (ev.type) {
      case 'deliver': {
        const payload = decoder.decode(ev.msg.payload);
        const m = ev.meta;
        n.rec.delivered.push({
          from: ev.from,
          payload,
          ...(m.viewId !== undefined ? { viewId: m.viewId } : {}),
          ...(m.gseq !== undefined ? { gseq: m.gseq } : {}),
          ...(m.qos ? { order: m.qos.order, resilience: m.qos.resilience ?? 'none' } : {}),
          ...(m.qos?.k !== undefined ? { k: m.qos.k } : {}),
        });
        this.log(`${n.address} deliver ${payload} from ${ev.from} v${m.viewId ?? '-'} g${m.gseq ?? '-'}`);
        return;
      }
      case 'lost':
        n.rec.errors.push(`lost ${ev.from} ${ev.fromSeq}..${ev.toSeq}`);
        return;
      case 'view':
        n.rec.views.push({
          id: ev.view.id,
          epoch: ev.view.epoch ?? 0,
          members: ev.view.members,
          at: this.now,
        });
        this.log(`${n.address} VIEW ${viewKey(ev.view)}`);
        return;
      case 'partitioned': {
        n.rec.partitionedAt = this.now;
        this.log(`${n.address} PARTITIONED ${ev.reason}`);
        // The application's answer to a partition: come back as a new member (RMP).
        const i = n.index;
        const inc = n.inc;
        if (this.cfg.rejoin === 'same') {
          let admitAfter: number | undefined;
          if (this.cfg.rejoinDampMs) {
            n.damper ??= new RejoinDamper(this.cfg.rejoinDampMs);
            const wait = n.damper.cutOff(this.now);
            if (wait > 0) admitAfter = this.now + wait;
            this.log(`${n.address} rejoin damped: admitted after ${wait} ms`);
          }
          n.rejoining = true;
          this.queue.push(this.now, () => this.rejoin(n, inc, admitAfter));
          return;
        }
        this.queue.push(this.now + 1, () => {
          const cur = this.nodes[i]!;
          if (cur.inc !== inc || !cur.alive) return;
          cur.alive = false;
          this.restart(i);
        });
        return;
      }
      default:
        return;
    }
  }

  private scheduleWake(n: Node): void {
    if (!n.alive) return;
    const due = n.runner.nextDeadline();
    if (due === undefined) return;
    // A paused (or slow, stopped) node's overdue timers fire when it resumes.
    const at = Math.max(due, this.now, n.pausedUntil, this.slow.resumeAt(n.index, this.now));
    if (at >= n.wakeAt) return;
    n.wakeAt = at;
    const inc = n.inc;
    const wake = () => {
      if (n.inc !== inc || n.wakeAt !== at) return;
      // Due when a restart of this member is too (`rejoin: 'same'`): `Group` restarts it in a
      // microtask, before its zero-delay timers, which then advance the new incarnation.
      if (n.rejoining) {
        this.queue.push(this.now, wake);
        return;
      }
      n.wakeAt = Number.POSITIVE_INFINITY;
      this.onNode(n, inc, () => n.runner.advance(this.now));
      this.scheduleWake(n);
    };
    this.queue.push(at, wake);
  }

  private transmit(src: Node, to: string | null, bytes: Uint8Array): void {
    for (const tap of this.taps) tap(src.index, to, bytes);
    const endpoint = to === null ? undefined : this.endpoints.get(to);
    if (endpoint) {
      if (this.clientCut(to!, src.index) || this.clientLinksCut.has(`n${src.index}>${to}`)) return;
      if (this.lost(src.index, -1)) return;
      if (this.oversized(src.index, -1, bytes.length)) return;
      this.hop((delay) => {
        const from = src.address;
        this.queue.push(this.now + delay, () => endpoint(bytes, from));
      });
      return;
    }
    const targets =
      to === null
        ? multicastTargets(this.cfg.delivery ?? 'multicast', src, this.nodes, src.peers)
        : this.nodes.filter((d) => d.address === to);
    for (const dst of targets) {
      if (this.links.blocks(src.index, dst.index) || this.lost(src.index, dst.index)) continue;
      if (this.oversized(src.index, dst.index, bytes.length)) continue;
      this.hop((delay) => {
        const inc = dst.inc;
        const from = src.address;
        this.queue.push(this.now + delay, () =>
          this.onArrival(dst, inc, (n) => {
            // Client packets bypass the stack to the application, as `Group.onPacket` routes them.
            if (n.app && bytes.length > 2 && bytes[2] === PacketType.Client) {
              n.app.clientPacket(bytes, from);
              return [];
            }
            return n.runner.receive(bytes, from, this.now);
          }),
        );
      });
    }
  }

  /** The application on `n` casts its next message (numbered when the member runs it). */
  cast(n: Node, fixed?: QoS, onCast?: (payload: string) => void): void {
    const inc = n.inc;
    this.groupCast(n, inc, () => {
      const payload = `${n.rec.member}#${n.rec.casts.length}`;
      n.rec.casts.push(payload);
      onCast?.(payload);
      this.log(`${n.address} cast ${payload}`);
      const q = fixed ?? this.cfg.qos;
      const qos = typeof q === 'function' ? q(this.rng) : q;
      return n.runner.cast(this.padded(payload), qos, this.now);
    });
  }

  /** The application on `n` casts a burst (`burst`; one cast without it) at this instant. */
  castBurst(n: Node): void {
    const k = this.cfg.burst ? 1 + Math.floor(this.burstRng() * this.cfg.burst) : 1;
    for (let i = 0; i < k; i++) this.cast(n);
  }

  crash(n: Node): void {
    if (!n.alive) return;
    n.alive = false;
    n.rec.crashedAt = this.now;
    this.log(`${n.address} CRASH`);
  }

  /**
   * `rejoin: 'same'`: the node's member core starts a new incarnation in place, keeping its
   * application (and the toy state), as `Group` does on `partitioned`.
   */
  private rejoin(n: Node, inc: number, admitAfter?: number): void {
    n.rejoining = false;
    const core = n.core;
    if (!core || !n.alive || n.inc !== inc) return;
    const old = n.rec;
    const first = core.start(this.now, admitAfter);
    // The toy application's state object carries over (state transfer replaces it on a join).
    const rec: Incarnation = {
      ...old,
      member: core.self,
      startedAt: this.now,
      crashedAt: null,
      casts: [],
      delivered: [],
      views: [],
      partitionedAt: null,
      restoredAt: null,
      errors: [],
    };
    this.incarnations.push(rec);
    n.rec = rec;
    this.log(`${n.address} rejoin as ${core.self} (same core and application)`);
    n.app?.rejoined?.(this.handle(() => n, inc, n.address, core));
    this.apply(n, first);
  }

  /**
   * A probe: the member on `n` casts one totally ordered message, recorded in {@link probes}
   * (the `progress` checker wants every survivor to deliver every probe).
   */
  probe(n: Node): void {
    if (!n.alive || n.rec.partitionedAt !== null) return;
    this.cast(n, { order: 'total' }, (payload) =>
      this.probes.push({ payload, member: n.rec.member, at: this.now }),
    );
  }

  restart(i: number): void {
    const old = this.nodes[i]!;
    if (old.alive) return;
    // With `persist`, the new process reads the view its predecessor last saved (Group's
    // membership file, which is written before any packet of the installing turn leaves).
    const remembered = this.cfg.persist ? old.core?.memory() : undefined;
    const fresh = this.start(i, old.inc + 1, remembered);
    this.nodes[i] = fresh;
    this.scheduleWake(fresh);
  }

  pause(n: Node, ms: number): void {
    n.pausedUntil = Math.max(n.pausedUntil, this.now + ms);
    this.pauses.push({ node: n.index, at: this.now, until: n.pausedUntil });
    this.log(`${n.address} PAUSE ${ms.toFixed(1)}ms`);
  }

  partition(sides: number[]): void {
    this.links.partition(sides);
    if (this.cfg.faults.has('clients')) {
      const present = [...new Set(sides)];
      for (const c of [...this.endpoints.keys()].sort())
        this.clientSides.set(c, present[Math.floor(this.clientRng() * present.length)]!);
    }
    const clients = [...this.clientSides].map(([c, side]) => `${c}:${side}`).join(' ');
    this.log(`PARTITION ${this.links.describe()}${clients ? ` clients ${clients}` : ''}`);
  }

  /** Under `clients`, whether a split keeps `client` and node `index` apart. */
  private clientCut(client: string, index: number): boolean {
    const side = this.clientSides.get(client);
    return side !== undefined && side !== this.links.sideOf(index);
  }

  /** Cut (or restore) the link between client `client` and node `index`: packets `toNode` (from
   * the client), `fromNode` (to it), or both ways (the `ccut` fault). */
  cutClientLink(client: string, index: number, way: 'toNode' | 'fromNode' | 'both', restore = false): void {
    const keys = [
      ...(way !== 'fromNode' ? [`${client}>n${index}`] : []),
      ...(way !== 'toNode' ? [`n${index}>${client}`] : []),
    ];
    for (const k of keys) {
      if (restore) this.clientLinksCut.delete(k);
      else this.clientLinksCut.add(k);
    }
    this.log(
      `CCUT ${restore ? 'restore' : 'cut'} ${client} ${way} n${index}: ${[...this.clientLinksCut].join(' ') || 'none'}`,
    );
  }

  /** Cut (or restore) links: see {@link Links}. */
  cutLink(from: number, to: number, both = false, restore = false): void {
    if (restore) this.links.restore(from, to, both);
    else this.links.cut(from, to, both);
    this.log(`LINKS ${this.links.describe()}`);
  }

  heal(): void {
    this.links.heal();
    this.clientSides.clear();
    this.log('HEAL');
  }

  at(t: number, fn: () => void): void {
    this.queue.push(t, () => fn());
  }

  run(): void {
    for (let e = this.queue.pop(); e && e.at <= this.cfg.endMs; e = this.queue.pop()) {
      this.now = e.at;
      e.fn();
    }
    this.now = this.cfg.endMs;
  }
}

/** A delivered payload's name: what came before the padding's NUL (see `World.padded`). */
function unpad(s: string): string {
  const end = s.indexOf('\u0000');
  return end < 0 ? s : s.slice(0, end);
}
