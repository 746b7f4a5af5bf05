/**
 * A forged-datagram fuzzer for keyless groups (docs/protocol.md, threat model A'; `keyed` runs a
 * keyed group against an attacker on the path without the key, see ForgeOptions): an attacker
 * off the members' path, without a key, who can send datagrams with any source address and any
 * sender id and knows the members' ids and addresses (a keyless `status` gives them), but sees
 * none of the members' traffic.
 *
 * In a keyless simulated group under load (group mode, or RPC mode with replicas and clients),
 * the forger captures every packet the members hand to the network, as a template only: at a
 * seeded random time it takes one captured packet (a packet kind drawn uniformly among the kinds
 * seen so far, then a packet of that kind) and makes one forged datagram of it, sent once or
 * sprayed a few times, to one member or to each. Before mutating, every field the forger could
 * not know is **blinded**: an integer of 2^24 or more (nak stream positions and nonces, a
 * Digest's nakNext) becomes a guess (0, 1, a random number below 2^48), a string of 6 or more hex
 * digits (gms, stable and join nonces, challenges) random hex of the same length, and in RPC mode
 * every payload random bytes (requests carry client ids, 64 secret bits); small numbers (view ids,
 * epochs, attempts, vseqs, gseqs), member ids and addresses are kept: they are public or
 * guessable. `--oracle` turns blinding off (an attacker on the path, which only a key keeps out:
 * such runs must fail, which shows the checks bite). Then 1 to 3 mutations: the sender id (another
 * member, the next or previous incarnation of one, a stranger, the forger's own), a leaf (±1, ±k,
 * 0, 1, 2^31, 2^48, 2^53 − 1, −1, 0.5, another member id, '', a long string, ...), an array
 * truncated, extended or an element dropped, two layer headers swapped, one dropped or doubled,
 * a layer's kind changed, nak's header replaced by its Unreliable `[0]`, the packet type
 * (Stack, Discovery) or the Unicast flag flipped, the payload emptied, cut or replaced. It is
 * delivered from the spoofed member's address (the sender's node), another member's, or the
 * forger's own (`x9`).
 *
 * Checked: the mode's checkers (GROUP_CHECKERS, or the RPC checkers), and against a control run
 * of the same seed without the forgery: no more incarnations stopped after a view (`excluded`;
 * one stopped before any view, a founding moved, is a note: FINDINGS 249), no more views
 * (`views`), no view naming a member the world never started (`invented`), no more than
 * `AMPLIFICATION` times the forged bytes sent to the forger's address (`reflected`), and the
 * members' held bytes, out-of-order messages and retransmissions within bounds of the control's
 * (`memory`, `retransmits`). `npx tsx test/sim/forge-cli.ts --seed N` replays a seed and prints
 * the forged datagrams, decoded.
 */

import { parseSpec } from '../../runtime/stack/builder.js';
import { fnv1a } from '../../runtime/stack/hash.js';
import { endpointOf, memberId } from '../../runtime/stack/member.js';
import { type RandomSource, randomInt, seededRandom } from '../../runtime/stack/random.js';
import { PacketAuth } from '../../runtime/wire/auth.js';
import { decodePacket, encodePacket, Flags, groupIdOf, PacketType } from '../../runtime/wire/index.js';
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
import { GROUP_CHECKERS } from './group-checkers.js';
import { rpcConfig, runRpcScenario } from './rpc-scenario.js';
import { membersOf } from './run.js';
import { GMS_SIM_OPTIONS, GROUP_STACK, groupConfig, runScenario } from './scenario.js';
import type { Fault, World } from './world.js';

export interface ForgeOptions {
  rpc: boolean;
  /** `A..B`: members of a seed, as the CLI's `--members`. */
  members: string;
  faults: readonly Fault[];
  /** Group mode: casts per member. */
  messages: number;
  /** Forgery events per run (each one template, sent 1..4 times). */
  events: number;
  /** The forger knows every field (an attacker on the path): no blinding. */
  oracle: boolean;
  /** Skip the control run (faster; the comparative checks are then skipped). */
  control: boolean;
  latency?: number;
  /**
   * A planted weakness, to show the fuzzer fails where a defence is missing: `origins` runs nak
   * with `randomOrigins: false` (every stream begins at 0, as before FINDINGS 206/207), so the
   * forger's small position guesses land in members' streams.
   */
  plant?: 'origins' | 'key';
  /**
   * The members' stacks sign every packet with a group key the forger lacks (com `key`, the
   * simulator's clock): the forger replays captured datagrams verbatim (to any member, from any
   * address, later: other views, other incarnations with `crash`), or sends its drafts unsigned,
   * signed with another key, or signed with the group's key for another group (a forger on the
   * path of a second group that shares the key). With `plant: 'key'` it holds the key (threat
   * model B), counters far ahead: such runs must fail.
   */
  keyed?: boolean;
  /** Leaf mutations also draw NaN, ±Infinity and floats beyond 2^53 (half the time): values no
   * member writes, which only a validator's `Number.isSafeInteger` keeps out. */
  wild?: boolean;
  trace: boolean;
}

export const FORGE_DEFAULTS: ForgeOptions = {
  rpc: false,
  members: '3..5',
  faults: ['loss', 'dup', 'reorder', 'delay'],
  messages: 60,
  events: 1,
  oracle: false,
  control: true,
  trace: false,
};

/** One forged datagram as sent. */
export interface Forged {
  at: number;
  /** Node index it was delivered to. */
  to: number;
  from: string;
  bytes: Uint8Array;
}

/** One forgery event: the template it came from, what was done to it, the datagrams sent. */
export interface ForgeEvent {
  at: number;
  /** Every node held a view when it was forged (not during the founding). */
  established: boolean;
  template: string;
  ops: string[];
  sent: Forged[];
}

interface Captured {
  /** The datagram as sent (a keyed run replays it verbatim). */
  bytes: Uint8Array;
  src: number;
  to: string | null;
  type: number;
  flags: number;
  sender: string;
  headers: unknown[];
  payload: Uint8Array;
}

export interface ForgeResult {
  seed: number;
  violations: string[];
  /** What the forgery cost without breaking a rule: more views than the control run (an
   * availability cost, e.g. a founding delayed). */
  notes: string[];
  events: ForgeEvent[];
  /** Figures of the run (and of its control), for the report. */
  figures: Figures;
  control?: Figures;
  trace: string[];
}

export interface Figures {
  /** Incarnations stopped that had installed a view (members). */
  stopped: number;
  /** Incarnations stopped before they installed any view (a founding voter whose founder's
   * group never started comes back as a new member: joiner.ts). */
  stoppedJoining: number;
  views: number;
  reflected: number;
  memberBytes: number;
  pendingBytesMax: number;
  pendingMax: number;
  futureMax: number;
  retransmits: number;
  /** NAKs sent, and forwarded to another member (`naksForwarded`). */
  naks: number;
  /** Group mode: application unreliable casts delivered (a forger's: by design, see World). */
  unreliable: number;
  invented: string[];
  /** com's refusals by authentication, over every incarnation: unauthenticated, replayed,
   * stale, of another group, of a sender without a handshake (keyed runs). */
  authRefused: number;
}

const BIG = 2 ** 24;
const HEX = /^[0-9a-f]{6,}$/i;
const MEMBER = /^[0-9a-f]{8}\.\d+$/;

/** A kind signature: packet type, then each layer header's kind. */
function signature(type: number, headers: unknown[]): string {
  return `${type}|${headers.map((h) => (Array.isArray(h) ? String(h[0]) : typeof h)).join(',')}`;
}

/** Whether the forger, off the path, could know this value. */
function secret(v: unknown, rpc: boolean): boolean {
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) >= BIG;
  if (typeof v === 'string') return HEX.test(v) && !MEMBER.test(v);
  if (v instanceof Uint8Array) return rpc && v.length > 0;
  return false;
}

/** A guess for a secret the forger cannot read. */
function guess(r: RandomSource, v: unknown): unknown {
  if (typeof v === 'number') {
    const x = r();
    return x < 0.2 ? 0 : x < 0.3 ? 1 : Math.floor(r() * 2 ** 48);
  }
  if (typeof v === 'string') return r() < 0.2 ? '' : randomHex(r, v.length);
  if (v instanceof Uint8Array) return r() < 0.3 ? new Uint8Array(0) : randomBytes(r, v.length);
  return v;
}

/** A deep copy with every secret replaced by a guess (none with `oracle`). */
function blind(v: unknown, r: RandomSource, rpc: boolean, oracle: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => blind(x, r, rpc, oracle));
  if (!oracle && secret(v, rpc)) return guess(r, v);
  if (v instanceof Uint8Array) return v.slice();
  return v;
}

/** What the forger knows: member ids of the group's views and which node each runs on, and the
 * newest view's id and epoch (a keyless `status` shows them). */
interface Knowledge {
  members: string[];
  view: { id: number; epoch: number; members: readonly string[] } | undefined;
  nodeOf: (m: string) => number;
  addressOf: (node: number) => string;
  nodes: number;
  /** `wild`: numbers no encoder of ours writes (NaN, infinities, floats past 2^53) are drawn too. */
  wild?: boolean;
}

/** Numbers a decoder sees only from a hostile peer: msgpack float64s (see ForgeOptions.wild). */
const WILD_NUMBERS = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -(2 ** 53),
  2 ** 53,
  2 ** 64,
  1e300,
  -0.5,
  -(2 ** 31),
];

function mutateNumber(r: RandomSource, n: number, wild = false): number {
  if (wild && r() < 0.5) return pick(r, WILD_NUMBERS);
  const k = 2 + Math.floor(r() * 99);
  return pick(r, [
    n + 1,
    Math.max(0, n - 1),
    n + k,
    Math.max(0, n - k),
    0,
    1,
    2 ** 31,
    2 ** 32,
    2 ** 48,
    2 ** 53 - 1,
    Math.floor(r() * BIG),
    -1,
    0.5,
    n * 2,
    n + 64,
    n + 65,
  ]);
}

function mutateString(r: RandomSource, s: string, k: Knowledge): string {
  const m = pick(r, k.members.length > 0 ? k.members : [s]);
  const e = MEMBER.test(s) ? endpointOf(s) : undefined;
  return pick(r, [
    m,
    e ? memberId({ node: e.node, inc: e.inc + 1 }) : m,
    e && e.inc > 1 ? memberId({ node: e.node, inc: e.inc - 1 }) : '',
    '',
    'x',
    '~',
    randomHex(r, Math.max(1, s.length)),
    'a'.repeat(300),
    k.addressOf(randomInt(r, 0, k.nodes - 1)),
    FORGER,
  ]);
}

/** A stranger's id: an invented node, incarnation 1. */
const stranger = (r: RandomSource) => memberId({ node: Math.floor(r() * 0xffffffff) >>> 0, inc: 1 });

interface Draft {
  type: number;
  flags: number;
  sender: string;
  headers: unknown[];
  payload: Uint8Array;
  from: 'sender' | 'member' | 'forger';
}

const OPS = [
  'sender',
  'leaf',
  'leaf',
  'leaf',
  'truncate',
  'extend',
  'drop',
  'swapLayers',
  'dropLayer',
  'dupLayer',
  'kind',
  'unreliable',
  'type',
  'flags',
  'payload',
  'synth',
  'synth',
  'synth',
  'synth',
] as const;

/** Applies one mutation to `d`; returns its description. */
function mutate(r: RandomSource, d: Draft, k: Knowledge, forced?: (typeof OPS)[number]): string {
  const op = forced ?? pick(r, OPS);
  const { leaves, arrays } = walk(d.headers);
  switch (op) {
    case 'sender': {
      const e = MEMBER.test(d.sender) ? endpointOf(d.sender) : undefined;
      const x = r();
      d.sender =
        x < 0.35
          ? pick(r, k.members.length > 0 ? k.members : [d.sender])
          : x < 0.6 && e
            ? memberId({ node: e.node, inc: e.inc + 1 })
            : x < 0.7 && e && e.inc > 1
              ? memberId({ node: e.node, inc: e.inc - 1 })
              : stranger(r);
      return `sender ${d.sender}`;
    }
    case 'leaf': {
      if (leaves.length === 0) return 'leaf (none)';
      const p = pick(r, leaves);
      const v = at(d.headers, p);
      const x =
        typeof v === 'number'
          ? mutateNumber(r, v, k.wild)
          : typeof v === 'string'
            ? mutateString(r, v, k)
            : v instanceof Uint8Array
              ? r() < 0.5
                ? new Uint8Array(0)
                : v.subarray(0, Math.floor(v.length / 2))
              : r() < 0.5
                ? 0
                : '';
      put(d.headers, p, x);
      return `leaf [${p.join(',')}] ${show(v)} -> ${show(x)}`;
    }
    case 'truncate': {
      const p = pick(r, arrays);
      const a = at(d.headers, p) as unknown[];
      if (a.length === 0) return 'truncate (empty)';
      const keep = Math.floor(r() * a.length);
      a.length = keep;
      return `truncate [${p.join(',')}] to ${keep}`;
    }
    case 'extend': {
      const p = pick(r, arrays);
      const a = at(d.headers, p) as unknown[];
      const x = a.length > 0 && r() < 0.6 ? structuredClone(pick(r, a)) : randomInt(r, 0, 100);
      a.push(x);
      return `extend [${p.join(',')}] with ${show(x)}`;
    }
    case 'drop': {
      const p = pick(r, arrays);
      const a = at(d.headers, p) as unknown[];
      if (a.length === 0) return 'drop (empty)';
      const i = Math.floor(r() * a.length);
      a.splice(i, 1);
      return `drop [${[...p, i].join(',')}]`;
    }
    case 'swapLayers': {
      if (d.headers.length < 2) return 'swapLayers (one layer)';
      const i = Math.floor(r() * (d.headers.length - 1));
      [d.headers[i], d.headers[i + 1]] = [d.headers[i + 1], d.headers[i]];
      return `swapLayers ${i},${i + 1}`;
    }
    case 'dropLayer': {
      if (d.headers.length === 0) return 'dropLayer (none)';
      const i = Math.floor(r() * d.headers.length);
      d.headers.splice(i, 1);
      return `dropLayer ${i}`;
    }
    case 'dupLayer': {
      if (d.headers.length === 0) return 'dupLayer (none)';
      const i = Math.floor(r() * d.headers.length);
      d.headers.splice(i, 0, structuredClone(d.headers[i]));
      return `dupLayer ${i}`;
    }
    case 'kind': {
      const layers = d.headers
        .map((h, i) => [h, i] as const)
        .filter(([h]) => Array.isArray(h) && h.length > 0);
      if (layers.length === 0) return 'kind (none)';
      const [h, i] = pick(r, layers) as readonly [unknown[], number];
      const to = randomInt(r, 0, 20);
      const was = h[0];
      h[0] = to;
      return `kind layer ${i} ${show(was)} -> ${to}`;
    }
    case 'unreliable': {
      // Stack packets: pack's header is last, nak's the one above it.
      if (d.type !== PacketType.Stack || d.headers.length < 2) return 'unreliable (n/a)';
      d.headers[d.headers.length - 2] = [0];
      return 'unreliable: nak header -> [0]';
    }
    case 'type': {
      d.type = d.type === PacketType.Stack ? PacketType.Discovery : PacketType.Stack;
      return `type -> ${d.type}`;
    }
    case 'flags': {
      d.flags ^= Flags.Unicast;
      return `flags -> ${d.flags}`;
    }
    case 'synth': {
      // A whole datagram of one layer's kind, built from what the forger knows, in that layer's
      // place in the group stack; above nak, mostly in nak's Unreliable header (stream positions
      // are unguessable), else in a nak Data at a guessed position.
      const layer = pick(r, SYNTH_LAYERS);
      const h = synthesize(r, layer, k, d.type);
      const position = () => pick(r, [0, 1, randomInt(r, 0, 300), Math.floor(r() * 2 ** 48)]);
      const nak =
        r() < 0.6
          ? [0]
          : r() < 0.5
            ? [1, 0, position()]
            : [1, 1, position(), pick(r, k.members.length > 0 ? k.members : [d.sender])];
      const v = k.view?.id ?? 1;
      const e = k.view?.epoch ?? 1;
      const tag = r() < 0.5 ? [14, v, e] : r() < 0.5 ? [13, v, e] : [0, v, e, randomInt(r, 0, 300)];
      d.type = layer === 'discovery' ? PacketType.Discovery : PacketType.Stack;
      d.flags = r() < 0.5 ? Flags.Unicast : 0;
      d.headers =
        layer === 'discovery'
          ? [h]
          : layer === 'gms'
            ? [h, [0], [0], nak, [0]]
            : layer === 'order'
              ? [[0], [0], h, tag, [0], [0], nak, [0]]
              : layer === 'fc'
                ? [[0], h, [0, 2], tag, [0], [0], nak, [0]]
                : layer === 'core'
                  ? [h, [0], [0, 2], tag, [0], [0], nak, [0]]
                  : layer === 'frag'
                    ? [tag, h, [0], nak, [0]]
                    : layer === 'stable'
                      ? [h, nak, [0]]
                      : [h, [0]];
      return `synth ${layer} ${show(h)}${layer === 'discovery' || layer === 'nak' || layer === 'stable' ? '' : ` over nak ${show(nak)}`}`;
    }
    case 'payload': {
      const x = r();
      d.payload =
        x < 0.4
          ? new Uint8Array(0)
          : x < 0.7
            ? d.payload.subarray(0, Math.floor(d.payload.length / 2))
            : randomBytes(r, 1 + Math.floor(r() * 64));
      return `payload -> ${d.payload.length} bytes`;
    }
  }
}

type Layer = 'pack' | 'nak' | 'stable' | 'frag' | 'gms' | 'order' | 'fc' | 'core' | 'discovery';
/** The layers `synth` builds a datagram for (gms, the most kinds, thrice). */
const SYNTH_LAYERS: readonly Layer[] = [
  'discovery',
  'gms',
  'gms',
  'gms',
  'order',
  'stable',
  'nak',
  'frag',
  'fc',
  'core',
];

/** The founding epoch a founder's id gives (gms/joiner.ts `foundingEpoch`). */
const foundingEpoch = (m: string) => 1 + (fnv1a(m) % 4095);

/**
 * A header of `layer` of a random kind, its fields what an off-path forger knows or guesses:
 * view ids and epochs about the newest view's (±1, +64, +65, another attempt's, a founder's),
 * small counters, member ids and addresses, and for nonces and stream positions guesses.
 */
function synthesize(r: RandomSource, layer: Layer, k: Knowledge, type: number): unknown[] {
  const v0 = k.view?.id ?? 1;
  const e0 = k.view?.epoch ?? 1;
  const members = k.view?.members ?? k.members;
  const m = () => pick(r, members.length > 0 ? members : ['00000001.1']);
  const addr = (x: string) => {
    const i = k.nodeOf(x);
    return i >= 0 ? k.addressOf(i) : FORGER;
  };
  // Mostly the newest view's id and epoch (a keyless `status` shows them), else near or far.
  const view = () =>
    r() < 0.7 ? v0 : pick(r, [v0 + 1, v0 + 1, Math.max(0, v0 - 1), v0 + 2, v0 + 64, v0 + 65]);
  const attempt = () => pick(r, [Math.floor(e0 / 4096), Math.floor(e0 / 4096) + 1, 0, 1, 64, 65]);
  const epoch = () =>
    r() < 0.7
      ? e0
      : pick(r, [
          e0 + 1,
          Math.max(0, e0 - 1),
          e0 + 4096,
          attempt() * 4096 + 4095 - randomInt(r, 0, Math.max(0, members.length - 1)),
          foundingEpoch(m()),
        ]);
  const small = () => pick(r, [0, 1, 2, 3, randomInt(r, 0, 300), randomInt(r, 0, 5000)]);
  // A stream position or a nonce: unguessable, so a guess (a small one too: a stream that began
  // at 0, as before random origins, would be hit; see ForgeOptions.plant).
  const secretNum = () => pick(r, [0, 1, randomInt(r, 0, 300), Math.floor(r() * 2 ** 48)]);
  const hex = (n: number) => (r() < 0.2 ? '' : randomHex(r, n));
  const subset = () => {
    const xs = members.filter(() => r() < 0.7);
    return xs.length > 0 ? xs : [m()];
  };
  const counts = (xs: readonly string[]) => xs.map((x) => [x, small()]);
  const install = () => {
    const ms = subset();
    return [
      8,
      view(),
      attempt(),
      ms,
      ms.map(addr),
      [],
      members.filter((x) => !ms.includes(x)),
      [],
      ms.map((x) => [x, secretNum()]),
      epoch(),
    ];
  };
  switch (layer) {
    case 'discovery':
    case 'gms': {
      if (layer === 'discovery' || (type === PacketType.Discovery && r() < 0.5)) {
        const c = m();
        return pick(r, [
          () => [
            9,
            pick(r, [m(), '', '~', c]),
            hex(16),
            pick(r, [0, 1]),
            hex(8),
            r() < 0.5 ? [] : [hex(8)],
            secretNum(),
          ],
          () => [10, view(), c, addr(c), hex(16), hex(8)],
          () => [18, view(), epoch(), c, addr(c)],
        ])();
      }
      // Half the time the kinds an unnumbered datagram may carry (Heartbeat, Suspect, Unreliable):
      // what an off-path forger can land, as stream positions are unguessable.
      if (r() < 0.5)
        return pick(r, [
          () => [1, view(), epoch(), attempt() * 4096 + small(), pick(r, [0, 1]), hex(16)],
          () => [1, view(), epoch(), attempt() * 4096 + small(), pick(r, [0, 1]), hex(16)],
          () => [12, view(), m(), pick(r, [0, 300, 900, 5_000]), hex(16)],
          () => [14, view(), epoch()],
        ])();
      const ms = subset();
      return pick(r, [
        () => [0, view(), epoch(), small()],
        () => [1, view(), epoch(), attempt() * 4096 + small(), pick(r, [0, 1]), hex(16)],
        () => [2, view(), attempt(), ms, ms.map(addr)],
        () => [3, view(), attempt(), counts(members), secretNum()],
        () => [4, view(), attempt(), members.map((x) => [x, small(), m()]), install()],
        () => [5, view(), epoch(), m(), small(), small()],
        () => [6, view(), epoch(), m(), small()],
        () => [7, view(), attempt()],
        install,
        () => [11, view()],
        () => [12, view(), m(), pick(r, [0, 300, 900, 5_000]), hex(16)],
        () => [13, view(), epoch()],
        () => [14, view(), epoch()],
        () => [15, view(), attempt()],
        () => [16, epoch(), ms, ms.map(addr), small()],
        () => [17, epoch(), null, small()],
        () => [19, view(), epoch(), hex(16)],
        () => [20, view(), epoch(), hex(16)],
      ])();
    }
    case 'order':
      return pick(r, [
        () => [0, pick(r, [0, 1, 2])],
        () => [1, small(), pick(r, [0, 1, 2, 3]), pick(r, [0, 1])],
        () => [2, small(), [[randomInt(r, 0, members.length), small(), small()]]],
        () => [3, small() - 1, small()],
        () => [4, small()],
        () => [5],
        () => [6, members.map(() => small())],
      ])();
    case 'stable':
      return pick(r, [
        () => [0],
        () => [1, view(), members.map((x) => [x, secretNum()]), pick(r, [0, 1]), members.map(() => hex(16))],
      ])();
    case 'nak': {
      const ch = pick(r, [0, 1]);
      return pick(r, [
        () => [0],
        () => (ch === 0 ? [1, 0, secretNum()] : [1, 1, secretNum(), m()]),
        () => [2, ch, secretNum(), secretNum(), secretNum()],
        () => [2, ch, secretNum(), 0, 2 ** 53 - 1],
        () => (ch === 0 ? [3, 0, secretNum()] : [3, 1, secretNum(), m()]),
        () => [4, ch, secretNum(), secretNum()],
        () => [5, 0, m(), secretNum(), secretNum()],
        () => [5, 0, m(), 0, 2 ** 53 - 1],
        () => [6, 0, m(), secretNum()],
        () => [7, ch, secretNum()],
        () => [8, ch, secretNum(), secretNum()],
      ])();
    }
    case 'frag':
      return pick(r, [() => [0], () => [1, small() + 2, small(), small() + 2]])();
    case 'fc':
      return pick(r, [
        () => [0],
        () => [1, pick(r, [1, 1_000_000, 2_000_000, 2 ** 31, 2 ** 53 - 1])],
        () => [2],
      ])();
    case 'pack':
      return [0];
    case 'core':
      return pick(r, [
        () => [0],
        () => [1, view(), small(), small() + 1, small(), secretNum(), m()],
        () => [2, view(), small(), small()],
        () => [3, small(), view(), epoch(), small(), secretNum(), small()],
        () => [4, view(), pick(r, [0, 1])],
      ])();
  }
}

/** A datagram decoded for print: its fixed header and headers, or why it does not decode. */
export function describe(bytes: Uint8Array): string {
  return describeWith(
    bytes,
    (p, sender) =>
      `type ${p.type} flags ${p.flags} sender ${sender} headers ${show(p.headers)} payload ${p.payload.length} bytes`,
  );
}

/**
 * Installs the forger on `w`: captures, and at `events` seeded times forges. The forger draws
 * from a generator of its own, so the world's plan is the control run's until the first forgery.
 */
export class Forger {
  readonly events: ForgeEvent[] = [];
  private readonly byKind = new Map<string, Captured[]>();
  private readonly latest = new Map<string, Captured>();
  private captured = 0;
  private readonly r: RandomSource;
  /** Bytes members sent to an address no node or client has (the forger's). */
  reflected = 0;
  memberBytes = 0;
  private foreign: PacketAuth | undefined;
  private otherGroup: PacketAuth | undefined;
  private holder: PacketAuth | undefined;

  constructor(
    private readonly w: World,
    private readonly o: {
      rpc: boolean;
      oracle: boolean;
      events: number;
      inject: boolean;
      fixed?: readonly Forged[];
      keyed?: boolean;
      plant?: string;
      wild?: boolean;
    },
    window: [number, number],
  ) {
    if (o.keyed) {
      const clock = () => SIM_EPOCH_MS + w.now;
      this.foreign = new PacketAuth(OTHER_KEY, { clock });
      this.otherGroup = new PacketAuth(KEY, { clock });
      if (o.plant === 'key') {
        this.holder = new PacketAuth(KEY, { clock });
        // Far ahead of every member's counter, as a key holder would choose.
        (this.holder as unknown as { counter: number }).counter = 2 ** 40;
      }
    }
    this.r = seededRandom(w.cfg.seed * 181 + 43);
    const nodes = new Set(w.nodes.map((n) => n.address));
    w.taps.push((src, to, bytes) => {
      this.memberBytes += bytes.length;
      if (to !== null && !nodes.has(to) && !/^c\d+$/.test(to)) this.reflected += bytes.length;
      this.capture(src, to, bytes);
    });
    if (o.fixed) {
      // Replaying given datagrams (minimizing a failure): nothing is drawn or forged.
      const ev: ForgeEvent = {
        at: o.fixed[0]?.at ?? 0,
        established: true,
        template: '(given)',
        ops: [],
        sent: [...o.fixed],
      };
      this.events.push(ev);
      for (const d of o.fixed)
        w.at(d.at, () => {
          if (d === o.fixed![0]) ev.established = w.nodes.every((n) => n.rec.views.length > 0);
          w.injectRaw(d.to, d.from, d.bytes);
        });
      return;
    }
    const times = Array.from({ length: o.events }, () => window[0] + this.r() * (window[1] - window[0]));
    times.sort((a, b) => a - b);
    for (const t of times) w.at(t, () => this.forge());
  }

  private capture(src: number, to: string | null, bytes: Uint8Array): void {
    if (bytes.length < 3 || (bytes[2] !== PacketType.Stack && bytes[2] !== PacketType.Discovery)) return;
    let p: ReturnType<typeof decodePacket>;
    try {
      p = decodePacket(bytes);
    } catch {
      return;
    }
    const add = (headers: unknown[], payload: Uint8Array) => {
      const key = signature(p.type, headers);
      const c: Captured = {
        bytes: bytes.slice(),
        src,
        to,
        type: p.type,
        flags: p.flags,
        sender: memberId(p.sender),
        headers: structuredClone(headers),
        payload: payload.slice(),
      };
      // And the latest apart (a forger's best guess of a counter is just past the newest value
      // it could have seen).
      keepTemplate(this.byKind, key, c, () => this.captured++ % 4);
      this.latest.set(key, c);
    };
    add(p.headers, p.payload);
    // pack's Packed ([1, [[headers, payload], ...]], last): each sub-message as a Single.
    const last = p.headers[p.headers.length - 1];
    if (Array.isArray(last) && last[0] === 1 && Array.isArray(last[1]))
      for (const sub of last[1] as unknown[])
        if (Array.isArray(sub) && Array.isArray(sub[0]) && sub[1] instanceof Uint8Array)
          add([...(sub[0] as unknown[]), [0]], sub[1]);
  }

  private knowledge(): Knowledge {
    const w = this.w;
    const members = new Set<string>();
    for (const n of w.nodes) for (const v of n.rec.views.slice(-1)) for (const m of v.members) members.add(m);
    let view: Knowledge['view'];
    for (const n of w.nodes) {
      const v = n.alive ? n.rec.views.at(-1) : undefined;
      if (v && (!view || v.id > view.id)) view = { id: v.id, epoch: v.epoch ?? 0, members: v.members };
    }
    return {
      view,
      members: [...members].sort(),
      nodeOf: (m) => {
        const i = w.incarnations.find((x) => x.member === m);
        return i ? i.node : -1;
      },
      addressOf: (i) => w.nodes[i]!.address,
      nodes: w.nodes.length,
      ...(this.o.wild ? { wild: true } : {}),
    };
  }

  /**
   * A keyed run's replay: captured datagram `c`, verbatim, sent once or a few times to one member
   * or each, from its sender's address, another member's or the forger's; possibly long after
   * it was captured (the first four of a kind are kept: a view or an incarnation earlier).
   */
  private replay(c: Captured, kind: string, k: Knowledge): void {
    const r = this.r;
    const fromX = r();
    const address =
      fromX < 0.6 ? k.addressOf(c.src) : fromX < 0.8 ? k.addressOf(randomInt(r, 0, k.nodes - 1)) : FORGER;
    const targets = r() < 0.3 ? this.w.nodes.map((n) => n.index) : [randomInt(r, 0, this.w.nodes.length - 1)];
    const copies = r() < 0.6 ? 1 : randomInt(r, 2, 4);
    const event: ForgeEvent = {
      at: this.w.now,
      established: this.w.nodes.every((n) => n.rec.views.length > 0),
      template: `n${c.src}→${c.to ?? 'cast'} ${kind}: ${show(c.headers)} payload ${c.payload.length}`,
      ops: [`replayed verbatim from ${address}`],
      sent: [],
    };
    this.events.push(event);
    for (let copy = 0; copy < copies; copy++) {
      const delay = copy === 0 ? 0 : r() * 50;
      for (const to of targets) {
        event.sent.push({ at: this.w.now + delay, to, from: address, bytes: c.bytes });
        if (this.o.inject) this.w.at(this.w.now + delay, () => this.w.injectRaw(to, address, c.bytes));
      }
    }
  }

  private forge(): void {
    const r = this.r;
    const kinds = [...this.byKind.keys()].sort();
    if (kinds.length === 0) return;
    const kind = pick(r, kinds);
    const c = r() < 0.5 ? this.latest.get(kind)! : pick(r, this.byKind.get(kind)!);
    const k = this.knowledge();
    const ops: string[] = [];
    if (this.o.keyed && r() < 0.4) {
      this.replay(c, kind, k);
      return;
    }
    const signing = !this.o.keyed
      ? 'none'
      : this.holder
        ? 'holder'
        : pick(r, ['none', 'foreign', 'other-group'] as const);
    if (this.o.keyed) ops.push(`signed: ${signing}`);
    const base: Draft = {
      type: c.type,
      flags: c.flags,
      sender: c.sender,
      headers: c.headers,
      payload: c.payload,
      from: 'sender',
    };
    // The mutations, drawn once; each copy re-guesses the secrets (a spray of guesses).
    // Half the events build a datagram of one layer's kind from scratch (`synth`), the rest
    // mutate the template 1 to 3 times.
    const synthOnly = r() < 0.5;
    const mutations = synthOnly ? 1 : 1 + Math.floor(r() * 3);
    const opSeed = Math.floor(r() * 2 ** 31);
    const fromX = r();
    const from: Draft['from'] = fromX < 0.6 ? 'sender' : fromX < 0.75 ? 'member' : 'forger';
    const everyone = r() < 0.3;
    // Mostly another node than the template's sender (a member hearing its own id is rarer).
    // A quarter of the time the coordinator (rank 0 of the newest view), who acts on most claims.
    const coordinator = k.view ? k.nodeOf(k.view.members[0]!) : -1;
    let target = coordinator >= 0 && r() < 0.25 ? coordinator : randomInt(r, 0, this.w.nodes.length - 1);
    if (target === c.src && r() < 0.9)
      target = (target + 1 + randomInt(r, 0, this.w.nodes.length - 2)) % this.w.nodes.length;
    const copies = r() < 0.6 ? 1 : randomInt(r, 2, 4);
    const otherMember = randomInt(r, 0, this.w.nodes.length - 1);
    const event: ForgeEvent = {
      at: this.w.now,
      established: this.w.nodes.every((n) => n.rec.views.length > 0),
      template: `n${c.src}→${c.to ?? 'cast'} ${kind}: ${show(c.headers)} payload ${c.payload.length}`,
      ops,
      sent: [],
    };
    this.events.push(event);
    for (let copy = 0; copy < copies; copy++) {
      const d: Draft = {
        ...base,
        headers: blind(base.headers, r, this.o.rpc, this.o.oracle) as unknown[],
        payload: blind(base.payload, r, this.o.rpc, this.o.oracle) as Uint8Array,
        from,
      };
      // The same mutations for every copy (their own generator), the guesses differing.
      const mr = seededRandom(opSeed);
      for (let i = 0; i < mutations; i++) {
        const what = mutate(mr, d, k, synthOnly ? 'synth' : undefined);
        if (copy === 0) ops.push(what);
      }
      let bytes: Uint8Array;
      try {
        const packet = {
          type: d.type,
          flags: d.flags,
          groupId: groupIdOfSim(),
          sender: endpointOf(d.sender),
          headers: d.headers,
          payload: d.payload,
        };
        bytes =
          signing === 'holder'
            ? this.holder!.encode(packet)
            : signing === 'foreign'
              ? this.foreign!.encode(packet)
              : signing === 'other-group'
                ? this.otherGroup!.encode({ ...packet, groupId: groupIdOf('sim-other') })
                : encodePacket(packet);
      } catch (e) {
        if (copy === 0) ops.push(`does not encode: ${(e as Error).message}`);
        return;
      }
      const senderNode = k.nodeOf(d.sender);
      const address =
        from === 'sender' && senderNode >= 0
          ? k.addressOf(senderNode)
          : from === 'forger'
            ? FORGER
            : k.addressOf(otherMember);
      const targets = everyone ? this.w.nodes.map((n) => n.index) : [target];
      const delay = copy === 0 ? 0 : r() * 50;
      for (const to of targets) {
        event.sent.push({ at: this.w.now + delay, to, from: address, bytes });
        if (this.o.inject) this.w.at(this.w.now + delay, () => this.w.injectRaw(to, address, bytes));
      }
    }
  }
}

const groupIdOfSim = () => groupIdOf('sim');

/** A keyed run's group key, and another group's (the forger's drafts signed with it). */
const KEY = 'forge simulated group key, at least 32 bytes long';
const OTHER_KEY = 'another group key, also at least 32 bytes long!!';
/** The simulator's time 0 on the keyed stacks' wall clock (2026-01-01). */
const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

/** Samples the members' held state every 100 ms (the `memory` check). */
function watchMemory(w: World, f: Figures): void {
  const tick = () => {
    let pendingBytes = 0;
    let pending = 0;
    let future = 0;
    for (const n of w.nodes) {
      if (!n.alive) continue;
      const s = n.rec.stats();
      pendingBytes += s.nak?.pendingBytes ?? 0;
      pending += s.nak?.pending ?? 0;
      future += s.gms?.future ?? 0;
    }
    f.pendingBytesMax = Math.max(f.pendingBytesMax, pendingBytes);
    f.pendingMax = Math.max(f.pendingMax, pending);
    f.futureMax = Math.max(f.futureMax, future);
    if (w.now + 100 <= w.cfg.endMs) w.at(w.now + 100, tick);
  };
  w.at(100, tick);
}

function finish(w: World, f: Figures, forger: Forger): void {
  const started = new Set(w.incarnations.map((i) => i.member));
  const views = new Set<string>();
  for (const i of w.incarnations) {
    if (i.partitionedAt !== null) {
      if (i.views.length > 0) f.stopped++;
      else f.stoppedJoining++;
    }
    for (const v of i.views) {
      views.add(`${v.id}.${v.epoch ?? 0}[${v.members.join(',')}]`);
      for (const m of v.members) if (!started.has(m) && !f.invented.includes(m)) f.invented.push(m);
    }
    const s = i.stats();
    f.retransmits += (s.nak?.retransmits ?? 0) + (s.nak?.repairsForOthers ?? 0);
    f.naks += (s.nak?.naksSent ?? 0) + (s.nak?.naksForwarded ?? 0);
    const com = s.com ?? {};
    f.authRefused +=
      (com.unauthenticated ?? 0) +
      (com.replayed ?? 0) +
      (com.stale ?? 0) +
      (com.foreignGroup ?? 0) +
      (com.unknownSender ?? 0);
  }
  f.views = views.size;
  f.reflected = forger.reflected;
  f.memberBytes = forger.memberBytes;
}

const emptyFigures = (): Figures => ({
  stopped: 0,
  stoppedJoining: 0,
  views: 0,
  reflected: 0,
  memberBytes: 0,
  pendingBytesMax: 0,
  pendingMax: 0,
  futureMax: 0,
  retransmits: 0,
  naks: 0,
  unreliable: 0,
  invented: [],
  authRefused: 0,
});

/** One run: the mode's scenario with a forger (injecting, or only watching for the control). */
async function once(
  o: ForgeOptions,
  seed: number,
  inject: boolean,
  fixed?: readonly Forged[],
): Promise<{ violations: string[]; events: ForgeEvent[]; figures: Figures; trace: string[] }> {
  const members = membersOf(o.members, seed);
  const figures = emptyFigures();
  let forger: Forger | undefined;
  const faults = new Set(o.faults);
  // A keyed run's com reads the simulator's clock (the handshake's and freshness's wall clock).
  const clockOf: { w: World | undefined } = { w: undefined };
  const com: Record<string, Record<string, unknown>> = o.keyed
    ? { com: { key: KEY, clock: () => SIM_EPOCH_MS + (clockOf.w?.now ?? 0) } }
    : {};
  const common = {
    trace: o.trace,
    ...(o.latency ? { latencyMs: o.latency } : {}),
    ...(o.plant === 'origins' || o.keyed
      ? {
          stack: parseSpec(GROUP_STACK, {
            ...GMS_SIM_OPTIONS,
            ...com,
            ...(o.plant === 'origins' ? { nak: { randomOrigins: false } } : {}),
          }),
        }
      : {}),
  };
  if (o.rpc) {
    const cfg = { ...rpcConfig(seed, members, faults), ...common };
    const r = await runRpcScenario(cfg, { asyncShare: 0.25 }, undefined, (sim) => {
      clockOf.w = sim.world;
      forger = new Forger(sim.world, { ...o, inject, ...(fixed ? { fixed } : {}) }, [200, 9_000]);
      watchMemory(sim.world, figures);
    });
    finish(r.sim.world, figures, forger!);
    return { violations: r.violations, events: forger!.events, figures, trace: r.trace };
  }
  const cfg = {
    ...groupConfig(seed, members, faults),
    messages: o.messages,
    ...common,
    unreliableApart: true,
  };
  const r = runScenario(cfg, GROUP_CHECKERS, (w) => {
    clockOf.w = w;
    forger = new Forger(w, { ...o, inject, ...(fixed ? { fixed } : {}) }, [100, 3_000]);
    watchMemory(w, figures);
  });
  finish(r.world, figures, forger!);
  figures.unreliable = r.world.unreliableApart;
  return { violations: r.violations, events: forger!.events, figures, trace: r.trace };
}

/** Faults under which no member stops in a run without forgeries (the `excluded`, `views` checks). */
const QUIET = new Set<Fault>(['loss', 'dup', 'reorder', 'delay']);

/** The forged run of `seed`, checked, and (unless told not to) its control run. */
export async function runForge(
  o: ForgeOptions,
  seed: number,
  fixed?: readonly Forged[],
): Promise<ForgeResult> {
  const run = await once(o, seed, true, fixed);
  const f = run.figures;
  const violations = [...run.violations];
  const notes: string[] = [];
  const forged = forgedBytes(run.events);
  if (f.invented.length > 0)
    violations.push(`invented: a view names ${f.invented.join(', ')}, never started`);
  if (f.reflected > AMPLIFICATION * forged)
    violations.push(
      `reflected: ${f.reflected} bytes sent to ${FORGER} for ${forged} forged (more than ${AMPLIFICATION}x)`,
    );
  if (f.unreliable > 0)
    notes.push(
      `unreliable: ${f.unreliable} application unreliable casts delivered in a member's name (by design)`,
    );
  let control: Figures | undefined;
  if (o.control) {
    control = (await once({ ...o, trace: false }, seed, false)).figures;
    // Only where the network's faults stop no one (a forged run's packets draw other losses than
    // its control's, so crashes, pauses and partitions end differently): then a stop is the forgery's.
    if (o.faults.every((x) => QUIET.has(x))) {
      if (f.stopped > control.stopped)
        violations.push(
          `excluded: ${f.stopped} incarnations stopped, ${control.stopped} without the forgery`,
        );
      // A forged Here or Join during a founding holds a joiner back from confirming for
      // 2 × suspectMs (FINDINGS 120, 134), and a voter that confirmed a founder whose group
      // therefore never started comes back as a new member: the founding is moved (a note, as a
      // view more is), no member is lost (FINDINGS 249).
      if (f.stoppedJoining > control.stoppedJoining)
        notes.push(
          `restarted: ${f.stoppedJoining} incarnations stopped before any view, ${control.stoppedJoining} without the forgery`,
        );
      // During a founding a forgery's packets (and the losses drawn for them) move who founds
      // and who joins later: a note. In an established group, a view change is the forgery's.
      if (f.views > control.views)
        (run.events.every((e) => e.established) ? violations : notes).push(
          `views: ${f.views} views, ${control.views} without the forgery`,
        );
    }
    if (f.pendingBytesMax > control.pendingBytesMax + 1_000_000 || f.pendingMax > control.pendingMax + 2_000)
      violations.push(
        `memory: nak held ${f.pendingBytesMax} bytes, ${f.pendingMax} messages out of order at most (${control.pendingBytesMax}, ${control.pendingMax} without)`,
      );
    if (f.futureMax > control.futureMax + 2_000)
      violations.push(`memory: gms held ${f.futureMax} future messages (${control.futureMax} without)`);
    if (f.retransmits > 2 * control.retransmits + 2_000)
      violations.push(`retransmits: ${f.retransmits} (${control.retransmits} without the forgery)`);
    // Forged runs' NAKs differ from their control's by at most 45 in 100 seeds of five forgeries.
    if (f.naks > control.naks + 200)
      violations.push(`naks: ${f.naks} NAKs sent or forwarded (${control.naks} without the forgery)`);
  }
  return {
    seed,
    violations,
    notes,
    events: run.events,
    figures: f,
    ...(control ? { control } : {}),
    trace: run.trace,
  };
}

/**
 * The fewest of a failing run's datagrams that still fail it (each alone first, then each
 * forgery event's, then all): replayed as given, at their times, from their addresses.
 */
export async function minimize(
  o: ForgeOptions,
  seed: number,
  r: ForgeResult,
): Promise<{ sent: Forged[]; result: ForgeResult } | undefined> {
  return minimizeSent(r.events, (sent) => runForge({ ...o, trace: false }, seed, sent));
}
