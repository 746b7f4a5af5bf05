/**
 * A forged client-packet fuzzer (the sibling of test/sim/forge.ts, which forges the members'
 * own packets): in an RPC simulation (replicas and clients over the faulty network) an attacker
 * off the path, who is not a client and has no key, forges client-protocol packets both ways.
 *
 * - To replicas: `call`, `calls`, `outcome?` and `hello`, in another client's name (its request
 *   ids) or its own, from a client's address (spoofed), a member's, or its own (`x9`).
 * - To clients: `reply`, `replies`, `accepted`, `reject`, `outcome`, `view`, `pad` and `cookie`,
 *   from a member's address (spoofed) or its own.
 *
 * Each event takes a captured packet as a template (its fields blinded where the forger cannot
 * read them: a request id's client part, 64 random bits in a real client, becomes a guess;
 * cookies, hello nonces and view echoes become guesses), builds one of a kind from scratch, or
 * replays a captured datagram as it was (to its receiver or another one). Then up to 3
 * mutations of the msgpack tuple (a leaf: another number, id, string, bytes; an array cut,
 * extended, an element dropped; the kind), so most are well-formed msgpack with a bad shape, some
 * a good shape with hostile values. It knows what an off-path attacker knows: the members' ids,
 * addresses and newest view, the clients' addresses, and its own cookie at each member (it can
 * say hello from `x9`; the simulator computes what it would get).
 *
 * `keyed`: replicas and clients sign client packets with a group key (the member stack stays
 * keyless). The forger has no key: its packets are unsigned, or signed with another key, or of
 * another group; and replays of captured signed datagrams. All must be refused.
 *
 * Checked: the RPC checkers; and (`unsent`) no replica orders a request that no client sent,
 * except the forger's own from `x9` with its own cookie (anyone is a client of a keyless group:
 * those are its calls, not another client's; under a key none); (`altered`) a request a client
 * sent is ordered only with a method and arguments that client sent for it; (`forged-final`) a
 * client ends a call with a value only if a member sent that value for that request; (`views`)
 * no view more than a control run of the same seed without the forgery, once the group was
 * established; (`reflected`) at most 4 times the forged bytes go to `x9` unless the forger
 * proved it with its cookie; (`crash`) the run ends without an exception from a member or a client.
 */

import { AddressProof, addressCookie } from '../../runtime/rpc/address-proof.js';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { COOKIE_PERIOD_MS } from '../../runtime/rpc/protocol.js';
import { endpointOf, memberId } from '../../runtime/stack/member.js';
import { type RandomSource, randomInt, seededRandom } from '../../runtime/stack/random.js';
import { PacketAuth } from '../../runtime/wire/auth.js';
import {
  decodePacket,
  type Endpoint,
  encodePacket,
  groupIdOf,
  PacketType,
} from '../../runtime/wire/index.js';
import {
  AMPLIFICATION,
  at,
  describeWith,
  FORGER,
  forgedBytes,
  keepTemplate,
  minimizeSent,
  pick,
  put,
  randomBytes,
  randomHex,
  show,
  walk,
} from './forge-kit.js';
import { type RpcScenarioResult, rpcConfig, runRpcScenario } from './rpc-scenario.js';
import type { RpcSim } from './rpc-world.js';
import { membersOf } from './run.js';
import type { Fault } from './world.js';

export interface ClientForgeOptions {
  /** `A..B`: members of a seed. */
  members: string;
  faults: readonly Fault[];
  /** Forgery events per run (each one packet, sent 1..4 times). */
  events: number;
  /** Replicas and clients sign client packets with a group key the forger lacks. */
  keyed: boolean;
  /** The forger reads every field (on the path): keyless runs must then fail, keyed ones not. */
  oracle: boolean;
  control: boolean;
  /**
   * A planted weakness, to show the fuzzer fails where a defence is missing: `ids`, the forger
   * knows the clients' ids (as a keyless `status` leaked them before FINDINGS 225); `key`, the
   * forger holds the group key (threat model B: a key holder is trusted); `cookies`, replicas
   * take any cookie as proof of a client's address (the defence of FINDINGS 192 removed).
   */
  plant?: 'ids' | 'key' | 'cookies';
  trace: boolean;
}

export const CLIENT_FORGE_DEFAULTS: ClientForgeOptions = {
  members: '3..5',
  faults: ['loss', 'dup', 'reorder', 'delay'],
  events: 3,
  keyed: false,
  oracle: false,
  control: true,
  trace: false,
};

const GROUP = groupIdOf('sim');
/** The simulated group's key (keyed runs), and another group's. */
const KEY = 'forge-client simulated group key, 32+ bytes long';
const OTHER_KEY = 'another group key, also at least 32 bytes long!!';
const SERVICE = 'register';
const METHODS = ['add', 'mul', 'take', 'audit', 'append', 'read', '', 'x'.repeat(300)];

export interface ForgedClient {
  at: number;
  /** Destination address (a member `nK` or a client `cK`). */
  to: string;
  from: string;
  bytes: Uint8Array;
}

export interface ClientForgeEvent {
  at: number;
  established: boolean;
  what: string;
  ops: string[];
  /** A call from `x9` with the forger's own cookie: its replies to `x9` are its own. */
  proven: boolean;
  sent: ForgedClient[];
}

export interface ClientForgeResult {
  seed: number;
  violations: string[];
  notes: string[];
  events: ClientForgeEvent[];
  figures: { views: number; reflected: number; refused: number; ordered: number; forgedRuns: number };
  control?: { views: number };
  trace: string[];
}

interface Template {
  /** Source and destination addresses. */
  from: string;
  to: string;
  sender: string;
  headers: unknown[];
  tuple: unknown[];
  raw: Uint8Array;
}

const REQUEST_ID = /^([A-Za-z0-9_-]{1,64}):(\d{1,15})$/;

/** A datagram decoded for print. */
export function describeClient(bytes: Uint8Array): string {
  return describeWith(bytes, (p, sender) => {
    let body: unknown;
    try {
      body = decodeValue(p.payload);
    } catch (e) {
      body = `(payload does not decode: ${(e as Error).message})`;
    }
    return `type ${p.type} flags ${p.flags} group ${p.groupId === GROUP >>> 0 ? 'sim' : p.groupId} sender ${sender} tag ${p.tag.length} headers ${show(p.headers)} ${show(body)}`;
  });
}

/** Installs the forger on an RPC simulation: captures client packets both ways, and forges. */
export class ClientForger {
  readonly events: ClientForgeEvent[] = [];
  /** Captured client packets, to replicas and to clients, by kind. */
  private readonly toReplicas = new Map<number, Template[]>();
  private readonly toClients = new Map<number, Template[]>();
  private readonly r: RandomSource;
  /** Bytes members sent to `x9`. */
  reflected = 0;
  /** Per request id a client sent: each `service/method/args` it sent it with. */
  readonly sentCalls = new Map<string, Set<string>>();
  /** Request ids the forger sent from `x9` with its own cookie (its own calls). */
  readonly ownIds = new Set<string>();
  private readonly clientIds: string[];
  private readonly foreign = new PacketAuth(OTHER_KEY);
  private readonly holder: PacketAuth | undefined;

  constructor(
    private readonly sim: RpcSim,
    private readonly o: ClientForgeOptions & { inject: boolean; fixed?: readonly ForgedClient[] },
    window: [number, number],
  ) {
    const w = sim.world;
    this.r = seededRandom(w.cfg.seed * 191 + 47);
    this.clientIds = Array.from({ length: sim.opts.clients }, (_, c) => `c${c}`);
    this.holder = o.plant === 'key' ? new PacketAuth(KEY) : undefined;
    w.taps.push((src, to, bytes) => {
      if (to === FORGER) this.reflected += bytes.length;
      if (to !== null && /^c\d+$/.test(to)) this.capture(this.toClients, w.nodes[src]!.address, to, bytes);
    });
    const sendFrom = w.sendFrom.bind(w);
    w.sendFrom = (from, to, bytes) => {
      this.capture(this.toReplicas, from, to, bytes, true);
      sendFrom(from, to, bytes);
    };
    if (o.fixed) {
      const ev: ClientForgeEvent = {
        at: o.fixed[0]?.at ?? 0,
        established: true,
        what: '(given)',
        ops: [],
        proven: false,
        sent: [...o.fixed],
      };
      this.events.push(ev);
      for (const d of o.fixed) {
        if (d.from === FORGER) this.noteOwnBytes(d.bytes);
        w.at(d.at, () => this.deliver(d));
      }
      return;
    }
    const times = Array.from({ length: o.events }, () => window[0] + this.r() * (window[1] - window[0]));
    times.sort((a, b) => a - b);
    for (const t of times) w.at(t, () => this.forge());
  }

  private deliver(d: ForgedClient): void {
    const w = this.sim.world;
    if (/^c\d+$/.test(d.to)) {
      w.injectToEndpoint(d.to, d.from, d.bytes);
      return;
    }
    const node = w.nodes.find((n) => n.address === d.to);
    if (node?.alive) w.injectRaw(node.index, d.from, d.bytes);
  }

  private capture(
    into: Map<number, Template[]>,
    from: string,
    to: string,
    bytes: Uint8Array,
    fromClient = false,
  ): void {
    if (bytes.length < 3 || bytes[2] !== PacketType.Client) return;
    let p: ReturnType<typeof decodePacket>;
    let tuple: unknown;
    try {
      p = decodePacket(bytes);
      tuple = decodeValue(p.payload);
    } catch {
      return;
    }
    if (!Array.isArray(tuple) || typeof tuple[0] !== 'number') return;
    if (fromClient) this.noteCalls(tuple);
    const t: Template = {
      from,
      to,
      sender: memberId(p.sender),
      headers: p.headers,
      tuple,
      raw: bytes.slice(),
    };
    keepTemplate(into, tuple[0], t, () => Math.floor(this.r() * 4));
  }

  /** Records each call a client sent: its id with service, method and arguments. */
  private noteCalls(tuple: unknown[]): void {
    const calls = tuple[0] === 4 && Array.isArray(tuple[1]) ? (tuple[1] as unknown[]) : [tuple];
    for (const c of calls) {
      if (!Array.isArray(c) || c[0] !== 1 || typeof c[1] !== 'string') continue;
      let s = this.sentCalls.get(c[1]);
      if (!s) {
        s = new Set();
        this.sentCalls.set(c[1], s);
      }
      s.add(callKey(c[2], c[3], c[4]));
    }
  }

  /** What the forger knows: members, their addresses and endpoints, the newest view. */
  private knowledge() {
    const w = this.sim.world;
    let view: { id: number; members: readonly string[] } | undefined;
    for (const n of w.nodes) {
      const v = n.alive ? n.rec.views.at(-1) : undefined;
      if (v && (!view || v.id > view.id)) view = { id: v.id, members: v.members };
    }
    const members = view?.members ?? w.incarnations.map((i) => i.member);
    const addressOf = (m: string) => {
      const i = w.incarnations.find((x) => x.member === m);
      return i ? w.nodes[i.node]!.address : FORGER;
    };
    return { view, members: [...members], addressOf };
  }

  /** A request id as the forger writes it: a guessed client part unless it knows the ids. */
  private requestId(counter?: number): string {
    const r = this.r;
    const n = counter ?? pick(r, [1, 2, 3, randomInt(r, 1, 40), 2 ** 31, 999_999_999_999_999]);
    const knows = this.o.oracle || this.o.plant === 'ids';
    // One who knows the client ids knows their counters too (they run 1, 2, 3, ...): mostly a
    // call in flight, or the next one a client will make.
    if (knows && counter === undefined && r() < 0.7) {
      const open = this.sim.calls.filter((c) => !c.final);
      if (open.length > 0) {
        const c = pick(r, open);
        if (r() < 0.7) return c.id;
        const [client, k] = c.id.split(':');
        return `${client}:${Number(k) + randomInt(r, 1, 4)}`;
      }
    }
    const client =
      knows && r() < 0.8
        ? pick(r, this.clientIds)
        : r() < 0.5
          ? randomHex(r, 16)
          : pick(r, ['x', 'c', 'c00']);
    return `${client}:${n}`;
  }

  /** A deep copy with what the forger cannot read replaced by guesses. */
  private blind(v: unknown, at: 'tuple' | 'headers'): unknown {
    const r = this.r;
    if (Array.isArray(v)) return v.map((x) => this.blind(x, at));
    if (this.o.oracle) return v instanceof Uint8Array ? v.slice() : v;
    if (typeof v === 'string') {
      const m = REQUEST_ID.exec(v);
      if (m && this.clientIds.includes(m[1]!))
        return this.o.plant === 'ids' ? v : this.requestId(Number(m[2]));
      return v;
    }
    // Hello nonces and view echoes are in [2^52, 2^53); issues are clock milliseconds (public).
    if (typeof v === 'number' && Number.isInteger(v) && v >= 2 ** 40)
      return pick(r, [0, 2 ** 52, Math.floor(r() * 2 ** 52) + 2 ** 52]);
    // Cookies (a header, or a view's), and results: guesses of their length.
    if (v instanceof Uint8Array)
      return at === 'headers' || v.length === 8 ? randomBytes(r, v.length) : v.slice();
    return v;
  }

  private forge(): void {
    const r = this.r;
    const w = this.sim.world;
    const k = this.knowledge();
    const ops: string[] = [];
    const toReplica = r() < 0.6;
    const captured = toReplica ? this.toReplicas : this.toClients;
    const kinds = [...captured.keys()].sort((a, b) => a - b);
    const x = r();
    const mode =
      x < 0.15 && kinds.length > 0 ? 'replay' : x < 0.55 && kinds.length > 0 ? 'template' : 'synth';
    const memberAddrs = w.nodes.map((n) => n.address);
    const clientAddrs = this.clientIds.map((_, c) => `c${c}`);
    const event: ClientForgeEvent = {
      at: w.now,
      established: w.nodes.every((n) => n.rec.views.length > 0),
      what: '',
      ops,
      proven: false,
      sent: [],
    };
    this.events.push(event);
    const copies = r() < 0.6 ? 1 : randomInt(r, 2, 4);
    const everyone = r() < 0.3;
    if (mode === 'replay') {
      // A captured datagram as it was: to its receiver again, or another one, later.
      const t = pick(r, captured.get(pick(r, kinds))!);
      const to = r() < 0.5 ? t.to : pick(r, toReplica ? memberAddrs : clientAddrs);
      const from = r() < 0.6 ? t.from : r() < 0.5 ? FORGER : pick(r, toReplica ? clientAddrs : memberAddrs);
      event.what = `replay ${t.from}→${t.to} kind ${t.tuple[0]} as ${from}→${to}`;
      for (let i = 0; i < copies; i++) this.send(event, { at: w.now + i * r() * 50, to, from, bytes: t.raw });
      return;
    }
    let tuple: unknown[];
    let headers: unknown[];
    let sender: string;
    if (mode === 'template') {
      const t = pick(r, captured.get(pick(r, kinds))!);
      tuple = this.blind(t.tuple, 'tuple') as unknown[];
      headers = this.blind(t.headers, 'headers') as unknown[];
      sender = t.sender;
      event.what = `template ${t.from}→${t.to} ${show(t.tuple).slice(0, 160)}`;
    } else {
      tuple = toReplica ? this.synthToReplica(k) : this.synthToClient(k);
      headers = [];
      // To a client, the member the tuple names (reply, reject, outcome, view: field 2 or 1).
      const named = tuple.find((x) => typeof x === 'string' && k.members.includes(x)) as string | undefined;
      sender = toReplica
        ? memberId({ node: 0x7000_0000 + randomInt(r, 0, 2), inc: 0 })
        : (named ?? pick(r, k.members));
      event.what = `synth ${show(tuple).slice(0, 200)}`;
    }
    // Well-formed hostile packets as often as malformed ones: no mutation half the time.
    const mutations = r() < 0.5 ? 0 : mode === 'synth' ? randomInt(r, 1, 2) : randomInt(r, 1, 3);
    for (let i = 0; i < mutations; i++) ops.push(mutateTuple(r, tuple, k.members, () => this.requestId()));
    if (r() < 0.1) {
      sender = pick(r, [
        ...k.members,
        memberId({ node: Math.floor(r() * 2 ** 32) >>> 0, inc: randomInt(r, 0, 3) }),
      ]);
      ops.push(`sender ${sender}`);
    }
    // To a client: mostly from the address of the member the packet names (its sender endpoint).
    const named = w.incarnations.find((i) => i.member === sender);
    const from = toReplica
      ? pick(r, [...clientAddrs, FORGER, FORGER, pick(r, memberAddrs)])
      : r() < 0.75
        ? named && r() < 0.8
          ? w.nodes[named.node]!.address
          : pick(r, memberAddrs)
        : FORGER;
    const targets = toReplica
      ? everyone
        ? memberAddrs
        : [pick(r, memberAddrs)]
      : everyone
        ? clientAddrs
        : [pick(r, clientAddrs)];
    // The forger's own cookie at a member (it said hello from x9): half its packets from x9 carry it.
    const ownCookie = toReplica && from === FORGER && !this.o.keyed && r() < 0.8;
    if (ownCookie) {
      ops.push('own cookie');
      event.proven = true;
    }
    // Under a key: unsigned, signed with another group's key, or (planted) with the group's.
    const signing = this.o.keyed ? (this.holder ? 'holder' : r() < 0.5 ? 'none' : 'foreign') : 'none';
    if (this.o.keyed) ops.push(`signed: ${signing}`);
    const groupId = r() < 0.05 ? groupIdOf('other') : GROUP;
    const aim = r() < 0.7;
    for (let copy = 0; copy < copies; copy++)
      for (const to of targets) {
        const h = ownCookie
          ? [
              [
                1,
                addressCookie(this.sim.cookieSecretOf(to), FORGER, Math.floor(w.wall(to) / COOKIE_PERIOD_MS)),
              ],
            ]
          : headers;
        // A call's `to` (the member it is for), mostly the target's current incarnation.
        const body = aimed(tuple, w.nodes.find((n) => n.address === to)?.rec.member, aim);
        if (ownCookie) this.noteOwn(body);
        let bytes: Uint8Array;
        try {
          const packet = {
            type: PacketType.Client,
            flags: 0,
            groupId,
            sender: endpointOf(sender) as Endpoint,
            headers: this.o.keyed ? [] : h,
            payload: encodeValue(body),
          };
          bytes =
            signing === 'holder'
              ? this.holder!.encode(packet)
              : signing === 'foreign'
                ? this.foreign.encode(packet)
                : encodePacket(packet);
        } catch (e) {
          if (copy === 0) ops.push(`does not encode: ${(e as Error).message}`);
          return;
        }
        this.send(event, { at: w.now + (copy === 0 ? 0 : r() * 50), to, from, bytes });
      }
  }

  /** Whether request id `id` names one of the simulated clients. */
  clientIdsOf(id: string): boolean {
    return this.clientIds.includes(id.split(':')[0]!);
  }

  /** A given datagram from x9 with a cookie header: its calls are the forger's own. */
  private noteOwnBytes(bytes: Uint8Array): void {
    try {
      const p = decodePacket(bytes);
      const h = p.headers[0];
      const t = decodeValue(p.payload);
      if (Array.isArray(h) && h[0] === 1 && Array.isArray(t)) this.noteOwn(t);
    } catch {
      // not a client packet: nothing of the forger's own
    }
  }

  private noteOwn(tuple: unknown[]): void {
    const calls = tuple[0] === 4 && Array.isArray(tuple[1]) ? (tuple[1] as unknown[]) : [tuple];
    for (const c of calls) if (Array.isArray(c) && typeof c[1] === 'string') this.ownIds.add(c[1]);
  }

  private send(event: ClientForgeEvent, d: ForgedClient): void {
    event.sent.push(d);
    if (this.o.inject) this.sim.world.at(d.at, () => this.deliver(d));
  }

  private call(k: ReturnType<ClientForger['knowledge']>): unknown[] {
    const r = this.r;
    const method = r() < 0.8 ? pick(r, ['add', 'mul', 'take', 'audit', 'append']) : pick(r, METHODS);
    const args = encodeValue(
      r() < 0.8 ? [randomInt(r, 0, 9)] : pick(r, [[], [1, 2], ['x'], [2 ** 53], null]),
    );
    const base: unknown[] = [
      1,
      this.requestId(),
      r() < 0.9 ? SERVICE : pick(r, ['', 'other', SERVICE.toUpperCase()]),
      method,
      args,
      pick(r, ['first', 'first', 'all', 'majority', 'none', 'x']),
      r() < 0.3 ? null : pick(r, k.members),
      r() < 0.5 ? null : pick(r, [0, 1, 10, 2 ** 31, 999_999_999_999_999]),
    ];
    if (r() < 0.7) base.push(pick(r, [0, 1, Math.floor(this.sim.world.now), 2 ** 53 - 1]));
    if (base.length > 8 && r() < 0.5) base.push(r() < 0.5 ? [] : [1, 2, 3]);
    if (base.length > 9 && r() < 0.5) base.push(pick(r, [0, 1, 2]));
    return base;
  }

  private synthToReplica(k: ReturnType<ClientForger['knowledge']>): unknown[] {
    const r = this.r;
    const v = k.view?.id ?? 1;
    return pick(r, [
      () => this.call(k),
      () => this.call(k),
      () => this.call(k),
      () => this.call(k),
      () => [4, Array.from({ length: pick(r, [1, 2, 16, 256, 257]) }, () => this.call(k))],
      () => [2, this.requestId(), null, randomInt(r, 0, 5), pick(r, [0, 1, 2 ** 31])],
      () => [2, this.requestId(), null],
      () => [
        3,
        pick(r, [0, v, v + 1, 2 ** 31]),
        pick(r, [1_200, 60_000, 0, 2 ** 31]),
        new Uint8Array(pick(r, [0, 200, 2_000])),
        Math.floor(r() * 2 ** 52) + 2 ** 52,
        pick(r, [0, 1, 255]),
      ],
      () => [3, v],
    ])();
  }

  private synthToClient(k: ReturnType<ClientForger['knowledge']>): unknown[] {
    const r = this.r;
    const v = k.view?.id ?? 1;
    const m = pick(r, k.members);
    const result = () =>
      r() < 0.7
        ? [1, encodeValue(pick(r, [0, 1, -1, 42, 2 ** 31, 'x', null]))]
        : [0, 'Error', 'forged', pick(r, ['OUTCOME_EXPIRED', 'INTERRUPTED', 'X']), null];
    const view = () => pick(r, [v, v + 1, v + 64, 1]);
    const members = () =>
      r() < 0.7 ? k.members : [m, memberId({ node: Math.floor(r() * 2 ** 32) >>> 0, inc: 1 })];
    const nonce = () => Math.floor(r() * 2 ** 52) + 2 ** 52;
    return pick(r, [
      () => [10, this.requestId(), m, view(), members(), result()],
      () => [
        15,
        m,
        view(),
        members(),
        Array.from({ length: randomInt(r, 1, 4) }, () => [this.requestId(), result()]),
      ],
      () => [11, this.requestId(), view(), members(), pick(r, [true, false]), pick(r, [0, 1, 2 ** 40])],
      () => [12, this.requestId(), m, result()],
      () => [
        13,
        this.requestId(),
        m,
        pick(r, ['committed', 'pending', 'interrupted', 'expired', 'not-found']),
        view(),
        members(),
        r() < 0.5 ? result() : null,
        r() < 0.5 ? view() : null,
        [],
        randomInt(r, 0, 20),
        randomInt(r, 0, 3),
      ],
      () => {
        const ms = members();
        const addrs = ms.map((x) => (r() < 0.8 ? k.addressOf(x) : FORGER));
        return [14, m, view(), ms, addrs, pick(r, [0, 1_200, 60_000]), randomBytes(r, 8), nonce()];
      },
      () => [16, pick(r, [0, 1, 4_000, 16_384, 2 ** 31])],
      () => [17, randomBytes(r, 8)],
    ])();
  }
}

/** `tuple` with each call's `to` naming `member` (when `aim` and it names one): a copy. */
function aimed(tuple: unknown[], member: string | undefined, aim: boolean): unknown[] {
  if (!aim || member === undefined) return tuple;
  const fix = (c: unknown) =>
    Array.isArray(c) && c[0] === 1 && c.length > 6 && typeof c[6] === 'string'
      ? [...c.slice(0, 6), member, ...c.slice(7)]
      : c;
  return tuple[0] === 4 && Array.isArray(tuple[1])
    ? [4, tuple[1].map(fix), ...tuple.slice(2)]
    : (fix(tuple) as unknown[]);
}

/** One leaf changed, an array cut or extended or an element dropped, or the kind changed. */
function mutateTuple(r: RandomSource, t: unknown[], members: string[], requestId: () => string): string {
  const { leaves, arrays } = walk(t);
  const op = pick(r, ['leaf', 'leaf', 'leaf', 'truncate', 'extend', 'drop', 'kind']);
  switch (op) {
    case 'leaf': {
      if (leaves.length === 0) return 'leaf (none)';
      const p = pick(r, leaves);
      const v = at(t, p);
      const x =
        typeof v === 'number'
          ? pick(r, [v + 1, v - 1, 0, -1, 0.5, 2 ** 31, 2 ** 53 - 1, Number.NaN, v + 64])
          : typeof v === 'string'
            ? pick(r, ['', 'x'.repeat(300), pick(r, members), requestId(), `${v}:1`, '\u0000', 'a:0'])
            : v instanceof Uint8Array
              ? pick(r, [new Uint8Array(0), v.subarray(0, v.length >> 1), new Uint8Array(70_000)])
              : pick(r, [0, '', true, [], new Uint8Array(3)]);
      put(t, p, x);
      return `leaf [${p.join(',')}] ${show(v)} -> ${show(x)}`;
    }
    case 'truncate': {
      const p = pick(r, arrays);
      const a = at(t, p) as unknown[];
      const keep = Math.floor(r() * a.length);
      a.length = keep;
      return `truncate [${p.join(',')}] to ${keep}`;
    }
    case 'extend': {
      const p = pick(r, arrays);
      const a = at(t, p) as unknown[];
      const x = a.length > 0 && r() < 0.6 ? structuredClone(pick(r, a)) : randomInt(r, 0, 100);
      a.push(x);
      return `extend [${p.join(',')}] with ${show(x)}`;
    }
    case 'drop': {
      const p = pick(r, arrays);
      const a = at(t, p) as unknown[];
      if (a.length === 0) return 'drop (empty)';
      const i = Math.floor(r() * a.length);
      a.splice(i, 1);
      return `drop [${[...p, i].join(',')}]`;
    }
    default: {
      const was = t[0];
      t[0] = pick(r, [1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 0, 18, 255]);
      return `kind ${show(was)} -> ${t[0]}`;
    }
  }
}

const callKey = (service: unknown, method: unknown, args: unknown) =>
  `${String(service)}/${String(method)}/${args instanceof Uint8Array ? Buffer.from(args).toString('hex') : show(args)}`;

/** Every request the replicas ordered (any incarnation's log): id, where from, what. */
function orderedRequests(sim: RpcSim): { id: string; client: string; key: string }[] {
  const out: { id: string; client: string; key: string }[] = [];
  const seen = new Set<string>();
  const add = (payload: Uint8Array) => {
    let m: ReturnType<typeof decodeGroupMsg>;
    try {
      m = decodeGroupMsg(payload);
    } catch {
      return;
    }
    if (m.kind === 'requests') for (const p of m.parts) add(p);
    if (m.kind !== 'request') return;
    const key = callKey(m.service, m.method, m.args);
    const k = `${m.id} ${m.client} ${key}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ id: m.id, client: m.client, key });
  };
  for (const inc of sim.incarnations) for (const item of inc.log) if (item.t === 'msg') add(item.payload);
  return out;
}

function viewCount(sim: RpcSim): number {
  const views = new Set<string>();
  for (const i of sim.world.incarnations)
    for (const v of i.views) views.add(`${v.id}.${v.epoch ?? 0}[${v.members.join(',')}]`);
  return views.size;
}

async function once(
  o: ClientForgeOptions,
  seed: number,
  inject: boolean,
  fixed?: readonly ForgedClient[],
): Promise<{ r: RpcScenarioResult; forger: ClientForger; crash?: string }> {
  const members = membersOf(o.members, seed);
  const cfg = { ...rpcConfig(seed, members, new Set(o.faults)), trace: o.trace };
  let forger: ClientForger | undefined;
  const proves = AddressProof.prototype.proves;
  if (o.plant === 'cookies') AddressProof.prototype.proves = () => true;
  const r = await runRpcScenario(
    cfg,
    { asyncShare: 0.25, ...(o.keyed ? { key: KEY } : {}) },
    undefined,
    (sim) => {
      forger = new ClientForger(sim, { ...o, inject, ...(fixed ? { fixed } : {}) }, [200, 9_000]);
    },
  ).finally(() => {
    AddressProof.prototype.proves = proves;
  });
  return { r, forger: forger! };
}

/** The forged run of `seed`, checked, and (unless told not to) its control run. */
export async function runClientForge(
  o: ClientForgeOptions,
  seed: number,
  fixed?: readonly ForgedClient[],
): Promise<ClientForgeResult> {
  let run: Awaited<ReturnType<typeof once>>;
  try {
    run = await once(o, seed, true, fixed);
  } catch (e) {
    return {
      seed,
      violations: [`crash: the run threw ${(e as Error).stack ?? String(e)}`],
      notes: [],
      events: [],
      figures: { views: 0, reflected: 0, refused: 0, ordered: 0, forgedRuns: 0 },
      trace: [],
    };
  }
  const { r, forger } = run;
  const sim = r.sim;
  // A forged packet is malformed by design: replica-health's count of them is the forger's (the
  // internal errors and bad group messages it counts are still violations).
  const violations = r.violations.filter((v) => !/^replica-health: .* malformed client packets$/.test(v));
  const notes: string[] = [];
  for (const line of sim.world.trace) if (line.includes('crashed:')) violations.push(`crash: ${line}`);
  // Requests ordered that no client sent (the forger's own from x9 apart, keyless only).
  let forgedRuns = 0;
  const ordered = orderedRequests(sim);
  for (const q of ordered) {
    const sent = forger.sentCalls.get(q.id);
    if (!sent) {
      // The forger's own calls, in client ids of its own (anyone is a client of a keyless group).
      const own = !o.keyed && forger.ownIds.has(q.id) && q.client === FORGER;
      if (own && !forger.clientIdsOf(q.id)) {
        forgedRuns++;
        continue;
      }
      violations.push(`unsent: ${q.id} (${q.key.slice(0, 60)}) ordered from ${q.client}, no client sent it`);
    } else if (!sent.has(q.key))
      violations.push(
        `altered: ${q.id} ordered as ${q.key.slice(0, 60)} from ${q.client}, its client sent ${[...sent].join(' | ').slice(0, 120)}`,
      );
  }
  // A value a client ended a call with came from a member.
  const values = new Map<string, Set<string>>();
  for (const s of sim.sentReplies) {
    let set = values.get(s.id);
    if (!set) {
      set = new Set();
      values.set(s.id, set);
    }
    set.add(s.value);
  }
  for (const c of sim.calls)
    if (c.final?.kind === 'value' && !values.get(c.id)?.has(JSON.stringify(c.final.value)))
      violations.push(`forged-final: ${c.id} ended with ${JSON.stringify(c.final.value)}, no member sent it`);
  const forged = forgedBytes(run.forger.events);
  const proven = forger.events.some((e) => e.proven);
  if (!proven && forger.reflected > AMPLIFICATION * forged)
    violations.push(`reflected: ${forger.reflected} bytes to ${FORGER} for ${forged} forged`);
  let refused = 0;
  for (const inc of sim.incarnations) {
    const s = inc.replica.stats() as unknown as Record<string, number>;
    refused += (s.unauthenticated ?? 0) + (s.malformed ?? 0) + (s.foreign ?? 0) + (s.replayed ?? 0);
  }
  const views = viewCount(sim);
  let control: { views: number } | undefined;
  if (o.control && !fixed) {
    const c = await once({ ...o, trace: false }, seed, false);
    control = { views: viewCount(c.r.sim) };
    if (views > control.views)
      (forger.events.every((e) => e.established) ? violations : notes).push(
        `views: ${views} views, ${control.views} without the forgery`,
      );
  }
  return {
    seed,
    violations,
    notes,
    events: forger.events,
    figures: { views, reflected: forger.reflected, refused, ordered: ordered.length, forgedRuns },
    ...(control ? { control } : {}),
    trace: r.trace,
  };
}

/** The fewest of a failing run's datagrams that still fail it (each alone, each event's, all). */
export async function minimizeClient(
  o: ClientForgeOptions,
  seed: number,
  r: ClientForgeResult,
): Promise<{ sent: ForgedClient[]; result: ClientForgeResult } | undefined> {
  return minimizeSent(r.events, (sent) => runClientForge({ ...o, trace: false }, seed, sent));
}
