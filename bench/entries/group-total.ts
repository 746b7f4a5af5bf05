// group: total-order casts — 3 troupe group members, each its own process, over UDP on 127.0.0.1,
// all casting totally ordered messages at once; compared to the raw dgram floor of the same payload
// size measured in the same run (same unit: msg/s per member).
import type { Child } from 'troupe/testkit';
import { against } from '../lib/ratio.js';
import { script } from '../lib/script.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';
import { MEMBERS, rawDgram1B, rawDgram1K } from './floor-raw-dgram.js';

/** Own casts not yet delivered back, per member. */
const WINDOW = 2_000;
/** Casts per event-loop turn: keeps timers (heartbeats, token) running between bursts. */
const BURST = 64;

/** A group key for the authenticated and encrypted entries (`JoinOptions.key`). */
const KEY = 'bench group key, at least 32 bytes long';

/** How the entry's packets are protected: none (`insecure: true`), HMAC, or AES-256-GCM. */
export type Protection = 'none' | 'auth' | 'encrypt';

/** One run of the group entries' workload. */
export interface GroupRun {
  size: number;
  protection?: Protection;
  /** Group members (default {@link MEMBERS}, the raw dgram floor's peer count). */
  members?: number;
  /** Extra `node` flags for every member (bench/profile-group.ts passes `--cpu-prof`). */
  nodeArgs?: string[];
  /** Own casts undelivered per member (default {@link WINDOW}). */
  window?: number;
  /** How many members cast (the first ones; default all): the others only receive. */
  casters?: number;
  /** Report the figure in MB/s of payload (for large messages) instead of msg/s. */
  megabytes?: boolean;
  /** Called after the report, before the runner stops the members. */
  after?: (members: Child[]) => Promise<void>;
}

export async function groupTotal(ctx: BenchContext, run: GroupRun): Promise<Measurement> {
  const { size, protection = 'none' } = run;
  const count = run.members ?? MEMBERS;
  const key = protection === 'none' ? undefined : KEY;
  const members: Child[] = [];
  for (let i = 0; i < count; i++) {
    members.push(
      await ctx.procs.start(script('bench/children/group-member.ts'), {
        name: `group-${i}`,
        ready: 'ready',
        nodeArgs: run.nodeArgs ?? [],
      }),
    );
  }
  const seeds = members.map((m) => m.events[0]!.address as string);
  const group = `bench-total-${count}-${size}-${protection}`;
  const security = key ? { key, encrypt: protection === 'encrypt' } : {};
  await Promise.all(
    members.map((m) => m.request({ cmd: 'join', group, seeds, ...security }, 'joined', 15_000)),
  );
  await Promise.all(
    members.map((m) =>
      m.waitFor((e) => e.event === 'view' && (e.members as string[]).length === count, 10_000),
    ),
  );
  const casters = members.slice(0, run.casters ?? count);
  const perMember = Math.max(1, Math.floor(ctx.limits.maxOps / casters.length));
  const sent = await Promise.all(
    casters.map((m) =>
      m.request(
        {
          cmd: 'run',
          size,
          count: perMember,
          seconds: ctx.limits.maxSeconds,
          window: run.window ?? WINDOW,
          burst: BURST,
        },
        'sent',
        (ctx.limits.maxSeconds + 10) * 1000,
      ),
    ),
  );
  const castTotal = sent.reduce((a, s) => a + (s.cast as number), 0);
  const reports = await Promise.all(
    members.map((m) =>
      m.request({ cmd: 'report', expect: castTotal, idleMs: 1_000, timeoutMs: 10_000 }, 'report', 15_000),
    ),
  );
  let rateSum = 0;
  let minRate = Number.POSITIVE_INFINITY;
  let delivered = 0;
  for (const r of reports) {
    const rate = (r.delivered as number) / Math.max(1e-9, r.spanSeconds as number);
    rateSum += rate;
    minRate = Math.min(minRate, rate);
    delivered += r.delivered as number;
  }
  const sum = (layer: string, counter: string): number =>
    reports.reduce(
      (a, r) => a + ((r.stats as Record<string, Record<string, number>>)[layer]?.[counter] ?? 0),
      0,
    );
  const missing = castTotal * count - delivered;
  await run.after?.(members);
  const rss = (k: string): number => Math.max(...sent.map((s) => s[k] as number));
  return {
    primary: 'rate',
    rate: run.megabytes
      ? { value: ((rateSum / count) * size) / 1e6, unit: 'MB/s per member' }
      : { value: rateSum / count, unit: 'msg/s per member' },
    ops: delivered,
    seconds: Math.max(...reports.map((r) => r.spanSeconds as number)),
    notes: {
      'slowest member msg/s': Math.round(minRate),
      casts: castTotal,
      'undelivered (member×msg)': missing,
      'view changes': reports.reduce((a, r) => a + (r.views as number) - 1, 0),
      naks: sum('nak', 'naksSent'),
      retransmits: sum('nak', 'retransmits'),
      'fc blocked ms': Math.round(sum('fc', 'blockedMs')),
      // The default ordering is seq (Orders + Acks); TOKEN_STACK's total counts token ACKs.
      'seq orders': sum('seq', 'orders'),
      'seq acks': sum('seq', 'acks'),
      // Why a member left the view, when one did: removed as lagging, or as a slow sequencer.
      'seq lag removals': sum('seq', 'lagRemovals'),
      'seq sequencer removals': sum('seq', 'sequencerRemovals'),
      'packed msgs/datagram': +(sum('pack', 'messages') / Math.max(1, sum('pack', 'packets'))).toFixed(1),
      // RSS of the casting members a quarter into the run (after warm-up) and at its end.
      'max RSS MB at ¼ → end': `${rss('rssWarmMB')} → ${rss('rssEndMB')}`,
      ...(key
        ? {
            'refused unauthenticated': sum('com', 'unauthenticated'),
            'refused replayed': sum('com', 'replayed'),
          }
        : {}),
    },
  };
}

const DESCRIPTION =
  `${MEMBERS} group member processes (troupe stack over UDP fan-out on 127.0.0.1) all cast totally ordered ` +
  `messages (at most ${BURST} per event-loop turn, ${WINDOW} own casts undelivered); ` +
  'figure = messages delivered per second at each member (own casts included), averaged over members.';

export const groupTotal1B: BenchEntry = {
  name: 'group: total-order casts, 3 members, 1 B',
  description: `1-byte payloads, vs the raw dgram 1 B floor. ${DESCRIPTION}`,
  baseline: against(rawDgram1B.name, 'raw dgram 1 B floor'),
  run: (ctx) => groupTotal(ctx, { size: 1 }),
};

export const groupTotal1K: BenchEntry = {
  name: 'group: total-order casts, 3 members, 1 KB',
  description: `1024-byte payloads, vs the raw dgram 1 KB floor. ${DESCRIPTION}`,
  baseline: against(rawDgram1K.name, 'raw dgram 1 KB floor'),
  run: (ctx) => groupTotal(ctx, { size: 1024 }),
};

export const groupAuth1B: BenchEntry = {
  name: 'group: total-order casts, 3 members, 1 B, authenticated',
  description: `The 1 B entry with a group key (every packet HMAC-SHA256 signed and verified, replay windows), vs the same entry without a key. ${DESCRIPTION}`,
  baseline: against(groupTotal1B.name, 'unauthenticated 1 B'),
  run: (ctx) => groupTotal(ctx, { size: 1, protection: 'auth' }),
};

export const groupAuth1K: BenchEntry = {
  name: 'group: total-order casts, 3 members, 1 KB, authenticated',
  description: `The 1 KB entry with a group key, vs the same entry without a key. ${DESCRIPTION}`,
  baseline: against(groupTotal1K.name, 'unauthenticated 1 KB'),
  run: (ctx) => groupTotal(ctx, { size: 1024, protection: 'auth' }),
};

export const groupEnc1B: BenchEntry = {
  name: 'group: total-order casts, 3 members, 1 B, encrypted',
  description: `The 1 B entry with a group key and encrypt: true (every packet AES-256-GCM sealed and opened, replay windows), vs the same entry without a key. ${DESCRIPTION}`,
  baseline: against(groupTotal1B.name, 'unauthenticated 1 B'),
  run: (ctx) => groupTotal(ctx, { size: 1, protection: 'encrypt' }),
};

export const groupEnc1K: BenchEntry = {
  name: 'group: total-order casts, 3 members, 1 KB, encrypted',
  description: `The 1 KB entry encrypted, vs the same entry without a key. ${DESCRIPTION}`,
  baseline: against(groupTotal1K.name, 'unauthenticated 1 KB'),
  run: (ctx) => groupTotal(ctx, { size: 1024, protection: 'encrypt' }),
};

/** The 1 B entry with 5 and 7 members: throughput should hold as the group grows. */
function scaled(members: number): BenchEntry {
  return {
    name: `group: total-order casts, ${members} members, 1 B`,
    description: `The 1 B entry with ${members} member processes, vs the 3-member entry of the same run (the issue's target: within ±20 %). ${DESCRIPTION.replace(`${MEMBERS} group member processes`, 'The group member processes')}`,
    baseline: against(groupTotal1B.name, '3 members'),
    run: (ctx) => groupTotal(ctx, { size: 1, members }),
  };
}

export const groupTotal5: BenchEntry = scaled(5);
export const groupTotal7: BenchEntry = scaled(7);

export default [
  groupTotal1B,
  groupTotal1K,
  groupAuth1B,
  groupAuth1K,
  groupEnc1B,
  groupEnc1K,
  groupTotal5,
  groupTotal7,
];
