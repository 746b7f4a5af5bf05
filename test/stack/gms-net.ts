import { GmsKind, type GmsOptions, gms } from '../../runtime/layers/gms.js';
import { type MemberId, memberId } from '../../runtime/stack/member.js';
import type { DownEvent, Layer, LayerContext, Msg, UpEvent } from '../../runtime/stack/types.js';
import { EventQueue } from '../sim/queue.js';

/**
 * Bare membership layers wired to each other, for gms unit tests: virtual time, a reliable FIFO
 * link per ordered pair (what nak gives gms), links that can be cut one way (reliable traffic
 * is held and released in order when the link heals, as nak would repair it; unreliable
 * traffic is lost), pauses, and raw injection of any header from any sender id, member or not.
 */
export interface GmsNode {
  index: number;
  id: MemberId;
  address: string;
  layer: Layer;
  ups: UpEvent[];
  /** When each of `ups` happened (virtual ms). */
  upAt: number[];
  /** Every message this node passed down, with its gms header (first element: the kind). */
  sent: { to: MemberId | null; header: unknown[] }[];
  /** Every discovery probe this node sent: the address (null: the beacon) and the header. */
  probed: { to: string | null; header: unknown[] }[];
  timers: Map<string, number>;
  pausedUntil: number;
  errors: unknown[];
  /** This node's own seeds, if not the net's (a replica configured with other addresses). */
  seeds?: string[];
}

const EMPTY: Msg = { headers: [], payload: new Uint8Array(0) };
const DELAY = 0.5;

export const FAST: Partial<GmsOptions> = {
  heartbeatMs: 50,
  suspectMs: 300,
  partitionMs: 900,
  joinRetryMs: 100,
  bootstrapMs: 300,
};

export class GmsNet {
  readonly queue = new EventQueue();
  /** Whether the discovery beacon reaches every node (IP multicast); false: nobody (fan-out). */
  beacons = true;
  readonly nodes: GmsNode[] = [];
  now = 0;
  /** `a>b`: what a sends b is held (reliable) or lost (unreliable) until healed. */
  private readonly cut = new Set<string>();
  /** `a>b`: everything a sends b is lost (a link that broke, not one nak repairs). */
  private readonly lossy = new Set<string>();
  private readonly held = new Map<string, (() => void)[]>();
  /** The first `count` nodes' addresses: the seeds of every node. */
  private readonly seeds: string[];

  constructor(
    count: number,
    readonly options: Partial<GmsOptions> = FAST,
  ) {
    this.seeds = Array.from({ length: count }, (_, k) => `n${k}`);
    for (let i = 0; i < count; i++) this.add();
  }

  /** A node (not started): `join()` it, or `found()` a group of nodes. `seeds`: its own. */
  add(seeds?: string[]): GmsNode {
    const index = this.nodes.length;
    const node: GmsNode = {
      index,
      id: '',
      address: `n${index}`,
      layer: undefined as unknown as Layer,
      ups: [],
      upAt: [],
      sent: [],
      probed: [],
      timers: new Map(),
      pausedUntil: 0,
      errors: [],
      ...(seeds ? { seeds } : {}),
    };
    this.boot(node, 1);
    this.nodes.push(node);
    return node;
  }

  /**
   * The node crashes and comes back at once as its next incarnation: a new member id at the
   * same address, remembering nothing; it is not started (`join()` it). Traffic still on its
   * way to the old incarnation is lost, as its old id names nobody any more.
   */
  restart(node: GmsNode): void {
    node.timers.clear();
    node.ups.length = 0;
    node.upAt.length = 0;
    node.sent.length = 0;
    node.probed.length = 0;
    this.boot(node, Number(node.id.split('.')[1] ?? 1) + 1);
  }

  private boot(node: GmsNode, inc: number): void {
    const id = memberId({ node: 0x100 + node.index, inc });
    node.id = id;
    const ctx: LayerContext = {
      self: id,
      groupName: 'g',
      now: () => this.now,
      random: () => 0.5,
      passDown: (ev) => {
        if (node.id === id) this.onDown(node, ev);
      },
      passUp: (ev) => {
        if (node.id !== id) return;
        node.ups.push(ev);
        node.upAt.push(this.now);
      },
      emit: () => {},
      defer: (fn) => this.queue.push(this.now, fn),
      setTimer: (key, ms) => {
        if (node.id !== id) return;
        const at = this.now + ms;
        node.timers.set(key, at);
        this.queue.push(at, () => this.onNode(node, () => this.fire(node, key, at), false));
      },
      clearTimer: (key) => {
        if (node.id === id) node.timers.delete(key);
      },
      trace: (line) => {
        if (process.env.GMS_TRACE) console.log(`${this.now.toFixed(1)} n${node.index} ${line()}`);
      },
    };
    node.layer = gms.create(ctx, { ...this.options, seeds: node.seeds ?? this.seeds, address: node.address });
  }

  private fire(node: GmsNode, key: string, at: number): void {
    if (node.timers.get(key) !== at) return;
    node.timers.delete(key);
    node.layer.timer?.(key);
  }

  /**
   * Run `fn` on a node unless it is paused. A paused node runs what waited when it resumes, its
   * overdue timers first, then the packets that arrived, in order: Node's event loop runs the
   * timers phase before it polls for I/O.
   */
  private onNode(node: GmsNode, fn: () => void, io = true): void {
    if (this.now < node.pausedUntil) {
      const at = node.pausedUntil + (io ? 0.01 : 0);
      this.queue.push(at, () => this.onNode(node, fn, io));
      return;
    }
    try {
      fn();
    } catch (e) {
      node.errors.push(e);
    }
  }

  private onDown(src: GmsNode, ev: DownEvent): void {
    if (ev.type === 'send') {
      src.sent.push({ to: ev.to, header: ev.msg.headers.at(-1) as unknown[] });
      const dst = this.nodes.find((n) => n.id === ev.to);
      const reliable = ev.qos.order !== 'unreliable';
      // A reliable send carries its place in the sender's stream to this receiver, as nak numbers it.
      if (dst)
        this.link(src, dst, reliable, {
          type: 'deliver',
          msg: ev.msg,
          from: src.id,
          cast: false,
          meta: reliable ? { seq: this.sendSeq(src.id, dst.id) } : {},
        });
    } else if (ev.type === 'cast') {
      src.sent.push({ to: null, header: ev.msg.headers.at(-1) as unknown[] });
      const reliable = ev.qos.order !== 'unreliable';
      // A reliable cast carries its place in the sender's stream, as nak numbers it.
      const meta = reliable ? { seq: this.castSeq(src.id) } : {};
      for (const dst of this.nodes)
        this.link(src, dst, reliable, { type: 'deliver', msg: ev.msg, from: src.id, cast: true, meta });
    } else if (ev.type === 'probe') {
      src.probed.push({ to: ev.to, header: ev.msg.headers.at(-1) as unknown[] });
      for (const dst of this.nodes) {
        if (dst === src || (ev.to !== null && dst.address !== ev.to) || (ev.to === null && !this.beacons))
          continue;
        this.link(src, dst, false, { type: 'discovery', msg: ev.msg, from: src.id, address: src.address });
      }
    }
  }

  /** A message for which this answers true is lost (`header`: its gms header). */
  drop: ((src: GmsNode, dst: GmsNode, header: unknown[]) => boolean) | undefined;

  private link(src: GmsNode, dst: GmsNode, reliable: boolean, ev: UpEvent): void {
    const go = () => this.queue.push(this.now + DELAY, () => this.onNode(dst, () => dst.layer.up(ev)));
    const key = `${src.index}>${dst.index}`;
    if (src !== dst && this.lossy.has(key)) return;
    if (this.drop && 'msg' in ev && this.drop(src, dst, ev.msg.headers.at(-1) as unknown[])) return;
    if (src !== dst && this.cut.has(key)) {
      if (reliable) this.held.get(key)!.push(go);
      return;
    }
    go();
  }

  /** Per sender id, the next number of its reliable cast stream (what nak gives as `meta.seq`). */
  private readonly castSeqs = new Map<MemberId, number>();

  private castSeq(from: MemberId): number {
    const seq = this.castSeqs.get(from) ?? 0;
    this.castSeqs.set(from, seq + 1);
    return seq;
  }

  /** Per sender and receiver, the next number of the sender's reliable point-to-point stream. */
  private readonly sendSeqs = new Map<string, number>();

  private sendSeq(from: MemberId, to: MemberId): number {
    const key = `${from}>${to}`;
    const seq = this.sendSeqs.get(key) ?? 0;
    this.sendSeqs.set(key, seq + 1);
    return seq;
  }

  /** Deliver a message with the given gms header to `to`, as if sent by `from` (any id), numbered
   * on `from`'s reliable stream (a cast's, or its point-to-point stream to `to`), as nak delivers one. */
  inject(to: GmsNode, from: MemberId, header: unknown[], cast = false): void {
    const ev: UpEvent = {
      type: 'deliver',
      msg: { headers: [header], payload: EMPTY.payload },
      from,
      cast,
      meta: { seq: cast ? this.castSeq(from) : this.sendSeq(from, to.id) },
    };
    this.onNode(to, () => to.layer.up(ev));
  }

  /** A discovery probe (Join) at `to` from any id and address. */
  injectProbe(to: GmsNode, from: MemberId, address: string, header: unknown[]): void {
    const ev: UpEvent = {
      type: 'discovery',
      msg: { headers: [header], payload: EMPTY.payload },
      from,
      address,
    };
    this.onNode(to, () => to.layer.up(ev));
  }

  /**
   * A joiner `from` at `address` that receives there: it asks `to` to join, and echoes the nonce
   * of the `Here` that comes back (as a real joiner does). Returns that nonce ('' if none came).
   */
  joinProven(to: GmsNode, from: MemberId, address: string): string {
    this.injectProbe(to, from, address, [GmsKind.Join, '', '']);
    this.run(this.now + 2 * DELAY);
    const here = to.probed.findLast((p) => p.to === address && p.header[0] === GmsKind.Here);
    const nonce = typeof here?.header[4] === 'string' ? here.header[4] : '';
    this.injectProbe(to, from, address, [GmsKind.Join, '', nonce]);
    return nonce;
  }

  /**
   * Another joiner `from` at `address` that receives there, heard by joiner `to` while no group
   * answers: its Join, then one that echoes the challenge `to` sent to `address` (as a real joiner
   * does), so `to` counts its vote. Returns that challenge ('' if `to` sent none).
   */
  joinerProven(to: GmsNode, from: MemberId, address: string, vote: string = from): string {
    this.injectProbe(to, from, address, [GmsKind.Join, vote, '', 1, `c-${from}`]);
    this.run(this.now + 2 * DELAY);
    const join = to.probed.findLast((p) => p.to === address && p.header[0] === GmsKind.Join);
    const challenge = typeof join?.header[4] === 'string' ? join.header[4] : '';
    this.injectProbe(to, from, address, [GmsKind.Join, vote, '', 1, `c-${from}`, [challenge]]);
    return challenge;
  }

  /** Cut the link a → b (one way); `both` cuts b → a too. */
  cutLink(a: GmsNode, b: GmsNode, both = true): void {
    for (const k of both ? [`${a.index}>${b.index}`, `${b.index}>${a.index}`] : [`${a.index}>${b.index}`]) {
      this.cut.add(k);
      if (!this.held.has(k)) this.held.set(k, []);
    }
  }

  /** Lose everything a sends b (one way) until `heal()`. */
  loseLink(a: GmsNode, b: GmsNode): void {
    this.lossy.add(`${a.index}>${b.index}`);
  }

  /** Cut every link between the two sides. */
  partition(left: readonly GmsNode[], right: readonly GmsNode[]): void {
    for (const a of left) for (const b of right) this.cutLink(a, b);
  }

  /** Heal every cut link and release what was held on it, in order. */
  heal(): void {
    for (const k of this.cut) for (const go of this.held.get(k) ?? []) go();
    this.cut.clear();
    this.held.clear();
    this.lossy.clear();
  }

  pause(node: GmsNode, ms: number): void {
    node.pausedUntil = Math.max(node.pausedUntil, this.now + ms);
  }

  /** Bootstrap: every node joins; they found one group (members sorted by id). */
  found(nodes: readonly GmsNode[] = this.nodes): void {
    for (const n of nodes) n.layer.down({ type: 'join' });
    this.run(this.now + 2_000);
  }

  run(until: number): void {
    for (let e = this.queue.pop(); e; e = this.queue.pop()) {
      if (e.at > until) {
        this.queue.push(e.at, e.fn);
        break;
      }
      this.now = e.at;
      e.fn();
    }
    this.now = Math.max(this.now, until);
  }

  /** Run `fn` at virtual time `t`. */
  at(t: number, fn: () => void): void {
    this.queue.push(t, fn);
  }

  /** Run event by event until `done()` holds (or `until`); whether it held. */
  runUntil(done: () => boolean, until: number): boolean {
    for (let e = this.queue.pop(); e; e = this.queue.pop()) {
      if (e.at > until) {
        this.queue.push(e.at, e.fn);
        break;
      }
      this.now = e.at;
      e.fn();
      if (done()) return true;
    }
    return done();
  }

  /** The last view a node installed (undefined before its first). */
  view(node: GmsNode): Extract<UpEvent, { type: 'view' }>['view'] | undefined {
    for (let i = node.ups.length - 1; i >= 0; i--) {
      const e = node.ups[i]!;
      if (e.type === 'view') return e.view;
    }
    return undefined;
  }

  /** Whether the node stopped (partitioned or left). */
  stopped(node: GmsNode): boolean {
    return node.ups.some((e) => e.type === 'partitioned' || e.type === 'left');
  }

  /** Whether the node is blocked: a `block` after its last view. */
  blocked(node: GmsNode): boolean {
    for (let i = node.ups.length - 1; i >= 0; i--) {
      const e = node.ups[i]!;
      if (e.type === 'view') return false;
      if (e.type === 'block') return true;
    }
    return false;
  }

  stats(node: GmsNode): Record<string, number> {
    return node.layer.stats!();
  }

  /** Messages delivered up (casts and sends of the layers above). */
  delivered(node: GmsNode): Extract<UpEvent, { type: 'deliver' }>[] {
    return node.ups.flatMap((e) => (e.type === 'deliver' ? [e] : []));
  }

  /** Headers of a kind this node sent. */
  sentOf(node: GmsNode, kind: number): unknown[][] {
    return node.sent.filter((s) => s.header[0] === kind).map((s) => s.header);
  }
}

/** A founded group of `n` nodes (with `opts`), all in view 1. */
export function foundGroup(n: number, opts?: Partial<GmsOptions>): GmsNet {
  const net = new GmsNet(n, opts);
  net.found();
  for (const node of net.nodes)
    if (net.view(node)?.members.length !== n) throw new Error(`${node.id} did not found a view of ${n}`);
  return net;
}

/** The id of the last view a node installed (0 before its first). */
export const viewIdOf = (net: GmsNet, node: GmsNode): number => net.view(node)?.id ?? 0;

/** The nodes in rank order of view 1 (rank 0, the coordinator, first). */
export const coordinatorFirst = (net: GmsNet): [GmsNode, GmsNode, GmsNode, ...GmsNode[]] => {
  const ids = net.view(net.nodes[0]!)!.members;
  return ids.map((id) => net.nodes.find((n) => n.id === id)!) as [GmsNode, GmsNode, GmsNode, ...GmsNode[]];
};

/** The Install tuple of view 2 by `attempt` of the member at `rank` in view 1 (its epoch says
 * which), every address `x:1`. */
export const installOf = (attempt: number, rank: number, members: string[], failed: string[] = []) => [
  GmsKind.Install,
  2,
  attempt,
  members,
  members.map(() => 'x:1'),
  [],
  [],
  failed,
  [],
  attempt * 4096 + 4095 - rank,
];

export { GmsKind };
