/** The modes of `npm run sim:long` (test/sim/long.ts), each with its options and seed range. */
import { parseFaults, SIM_DEFAULTS, type SimOptions } from './run.js';

export interface Mode {
  name: string;
  /** First seed; a run of N seeds in this mode covers base .. base+N-1. */
  base: number;
  /** Share of the seeds (weights are normalized). */
  weight: number;
  opts: SimOptions;
  /** Draws each seed's options from the seed (the `mixed` mode); otherwise every seed runs `opts`. */
  draw?: (seed: number) => SimOptions;
}

/** The options seed `seed` of mode `m` runs with (its replay command names them). */
export function optionsOf(m: Mode, seed: number): SimOptions {
  return m.draw ? m.draw(seed) : m.opts;
}

/**
 * The `mixed` mode's options for one seed: group or RPC, each fault (the opt-in ones included) in
 * or out, and in RPC mode each feature (same-Replica rejoin, async methods, reply modes,
 * autoReissue) in or out, and the simulator's or the library's detection timings, all from a
 * hash of the seed. The fixed modes run the combinations a
 * finding needed; this one runs those nobody chose, as an outside tester would.
 */
export function mixedOptions(seed: number): SimOptions {
  return drawOptions(seed, false);
}

/**
 * The `wide` mode's options: `mixed`'s draws, then what `mixed` never varies: larger RPC groups
 * (3..7), a shorter client deadline, large fragmented casts in group mode (`--pad`), all-total
 * `none` casts, more casts per member, and the `straggle` and `lossy` faults (packets seconds
 * late, and reaching a restarted process at their address; a member's link losing most packets),
 * members that keep their last view on disk (`persist`) in half the seeds, old packets
 * replayed 4–20 s later (`replay`) in three in ten, flapping links (`flap`) in three in ten,
 * damped rejoins in two in five of the seeds that rejoin with the same core, and in RPC mode
 * handler locks that move while their calls run (`locks`) in two in five, and a `blackout` (every
 * member, or all but one, down at once) in one in six. Its own seed range, so `mixed`'s pinned
 * seeds keep their schedules.
 */
export function wideOptions(seed: number): SimOptions {
  return drawOptions(seed, true);
}

function drawOptions(seed: number, wide: boolean): SimOptions {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) >>> 0;
  const bit = (p: number) => {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 12)) >>> 0;
    return h / 2 ** 32 < p;
  };
  const rpc = bit(0.5);
  const base = ALL.split(',').filter(() => bit(0.7));
  const extra = ['splits', 'links', 'skew', 'slow'].filter(() => bit(0.5));
  const drawn = {
    rejoin: bit(0.5) ? ('same' as const) : ('new' as const),
    async: rpc && bit(0.5),
    replies: rpc && bit(0.5),
    autoReissue: rpc && bit(0.5),
    timings: bit(0.5) ? ('library' as const) : ('sim' as const),
    // More lanes: a contact orders several calls at once, in batches (replica.ts, "Batching").
    lanes: rpc && bit(0.5) ? 6 : 2,
  };
  // Drawn last, so every seed's earlier draws (and so its run without these) stay as they were.
  const later = ['zombie', 'churn', 'flushcut', ...(rpc ? ['clients'] : [])].filter(() => bit(0.25));
  const faults = [...base, ...extra, ...later];
  const mixed: SimOptions = {
    ...common,
    rpc,
    members: rpc ? '3..5' : '3..9',
    faults: parseFaults(faults.length > 0 ? faults.join(',') : 'loss'),
    ...drawn,
  };
  if (!wide) return mixed;
  const network = ['straggle', 'lossy'].filter(() => bit(0.5));
  const sized = rpc
    ? { members: bit(0.5) ? '3..7' : '3..5', timeout: bit(0.3) ? 600 : 1500, calls: bit(0.3) ? 24 : 12 }
    : {
        pad: bit(0.3) ? (bit(0.5) ? 2_500 : 6_000) : 0,
        qos: bit(0.2) ? ('none' as const) : ('mixed' as const),
        messages: bit(0.3) ? 80 : 40,
      };
  // Drawn last, so the seeds drawn before it was added keep their options (FINDINGS 58's seed).
  const persist = bit(0.5);
  // After persist, for the same reason: old packets replayed seconds later (world.ts).
  const replay = bit(0.3) ? ['replay'] : [];
  // After replay, for the same reason (session 22): links that go down and up again (`flap`),
  // rejoins damped as Group damps them, and in RPC mode handler locks that move while their
  // calls run (`--locks`).
  const flap = bit(0.3) ? ['flap'] : [];
  const damped = mixed.rejoin === 'same' && bit(0.4);
  const locks = rpc && bit(0.4);
  // After locks, for the same reason (session 40): every member (or all but one) down at once
  // and back, the group founded again (test/sim/blackout.ts and its rules), in one seed in six.
  const blackout = bit(1 / 6) ? ['blackout'] : [];
  return {
    ...mixed,
    faults: parseFaults([...faults, ...network, ...replay, ...flap, ...blackout].join(',') || 'loss'),
    ...sized,
    ...(persist ? { persist: true } : {}),
    ...(damped ? { rejoin: 'damped' as const } : {}),
    ...(locks ? { locks: true } : {}),
  };
}

const ALL = 'loss,dup,reorder,delay,crash,pause,partition';
const common: SimOptions = { ...SIM_DEFAULTS, members: '3..9', faults: parseFaults(ALL) };
/** RPC with every feature on (same-Replica rejoin, async methods, reply modes, autoReissue, lanes). */
const FEATURES: SimOptions = {
  ...common,
  rpc: true,
  members: '3..5',
  faults: parseFaults(`${ALL},skew`),
  rejoin: 'same',
  async: true,
  replies: true,
  autoReissue: true,
  lanes: 4,
};

/** The modes, each on a seed range of its own (so a failure names its mode by its seed). */
export const MODES: readonly Mode[] = [
  { name: 'group', base: 1_000_000, weight: 35, opts: common },
  {
    name: 'group-patterns',
    base: 2_000_000,
    weight: 20,
    opts: { ...common, faults: parseFaults(`${ALL},splits,links`), rejoin: 'same' },
  },
  {
    name: 'streams',
    base: 3_000_000,
    weight: 15,
    opts: { ...common, members: '3..7', stack: 'nak:pack:com' },
  },
  {
    name: 'rpc',
    base: 4_000_000,
    weight: 10,
    opts: {
      ...common,
      rpc: true,
      members: '3..5',
      faults: parseFaults('loss,dup,reorder,delay,crash,pause'),
    },
  },
  {
    name: 'rpc-partition',
    base: 5_000_000,
    weight: 10,
    opts: { ...common, rpc: true, members: '3..5', faults: parseFaults(`${ALL},splits,links`) },
  },
  { name: 'rpc-features', base: 6_000_000, weight: 10, opts: FEATURES },
  {
    // Handler locks that move while their calls run (members acquire and release the lock, the
    // handler waits): handler-exclusive, with everything rpc-features turns on.
    name: 'rpc-locks',
    base: 10_000_000,
    weight: 6,
    opts: { ...FEATURES, locks: true },
  },
  {
    // A member that runs slow but stays live (test/sim/slow.ts): the group must keep its pace or
    // remove it, never stall with it or diverge.
    name: 'slow',
    base: 7_000_000,
    weight: 8,
    opts: { ...common, members: '3..7', faults: parseFaults(`${ALL},slow`) },
  },
  {
    name: 'rpc-slow',
    base: 8_000_000,
    weight: 7,
    opts: { ...common, rpc: true, members: '3..5', faults: parseFaults(`${ALL},slow`), rejoin: 'same' },
  },
  // Weight 0: not in the default 100,000 (`--modes mixed` runs it; its seeds split evenly).
  { name: 'mixed', base: 9_000_000, weight: 0, opts: common, draw: mixedOptions },
  // Weight 0 too: `mixed` plus the sizes and timings it never varies (wideOptions).
  { name: 'wide', base: 100_000_000, weight: 0, opts: common, draw: wideOptions },
];
