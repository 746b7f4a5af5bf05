/** The modes of `npm run sim:long` (test/sim/long.ts), each with its options and seed range. */
import { parseFaults, SIM_DEFAULTS, type SimOptions } from './run.js';

export interface Mode {
  name: string;
  /** First seed; a run of N seeds in this mode covers base .. base+N-1. */
  base: number;
  /** Share of the seeds (weights are normalized). */
  weight: number;
  opts: SimOptions;
}

const ALL = 'loss,dup,reorder,delay,crash,pause,partition';
const common: SimOptions = { ...SIM_DEFAULTS, members: '3..9', faults: parseFaults(ALL) };

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
  {
    name: 'rpc-features',
    base: 6_000_000,
    weight: 10,
    opts: {
      ...common,
      rpc: true,
      members: '3..5',
      faults: parseFaults(`${ALL},skew`),
      rejoin: 'same',
      async: true,
      replies: true,
      autoReissue: true,
    },
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
];
