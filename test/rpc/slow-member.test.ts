// Birman's slow-receiver experiment (issue 16) with real processes: 4 bank replicas over UDP on
// 127.0.0.1, a non-member client keeping 32 deposits in flight, and one replica that is neither
// the client's contact nor the sequencer made slow but alive by SIGSTOP/SIGCONT duty cycles.
// With the quorum ordering (seq) the group keeps its pace; a member that stays behind is removed
// by the lag bound, only it, and its rejoins are damped.
import { afterEach, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { connect, type TroupeClient } from '../../runtime/rpc/index.js';
import { type Child, ProcessHarness } from '../support/processes.js';
import { until } from '../support/until.js';

const REPLICA = 'examples/bank/replica.ts';
const LAYERS = { gms: { heartbeatMs: 100, suspectMs: 1_000, bootstrapMs: 200, joinRetryMs: 50 } };
/** Shorter than the defaults (1 s / 5 s / 5 s) so the whole experiment fits in ~40 s. */
const HEALTH = { lagReportMs: 1_000, lagRemoveMs: 3_000, rejoinDampMs: 4_000 };
const IN_FLIGHT = 32;

let procs = new ProcessHarness();
let client: TroupeClient | undefined;
afterEach(async () => {
  await client?.close();
  client = undefined;
  await procs.stopAll();
  procs = new ProcessHarness();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stops and continues `pid` (stopped `stopMs`, running `runMs`) until `cycle.on` turns false. */
async function dutyCycle(pid: number, stopMs: number, runMs: number, cycle: { on: boolean }): Promise<void> {
  while (cycle.on) {
    process.kill(pid, 'SIGSTOP');
    await sleep(stopMs);
    process.kill(pid, 'SIGCONT');
    await sleep(runMs);
  }
}

it('a member stopped 80% and 90% of the time leaves the group its pace; one that stays behind is removed, alone, and rejoins damped', async () => {
  const t0 = Date.now();
  const children = await Promise.all(
    [0, 1, 2, 3].map(() => procs.start(REPLICA, { ready: 'ready', readyTimeoutMs: 60_000 })),
  );
  const seeds = children.map((c) => c.events.find((e) => e.event === 'ready')!.address as string);
  const joined = await Promise.all(
    children.map((c) => c.request({ cmd: 'join', seeds, layers: LAYERS, health: HEALTH }, 'joined', 20_000)),
  );
  // A child's current member id: the last view it installed names it (a rejoin makes a new one).
  const selfNow = (c: Child) =>
    (c.events.filter((e) => e.event === 'view').at(-1)?.self ?? joined[children.indexOf(c)]!.self) as string;
  const currentView = () =>
    children[0]!.events.filter((e) => e.event === 'view').at(-1)?.members as string[] | undefined;
  const formed = () => {
    const v = currentView() ?? (joined[0]!.view as { members: string[] }).members;
    return v.length === 4 && children.every((c) => v.includes(selfNow(c)));
  };
  await until(formed, 20_000, 'a view of the 4 replicas');
  const view = currentView() ?? (joined[0]!.view as { members: string[] }).members;
  const selfOf = new Map<Child, string>(children.map((c) => [c, selfNow(c)]));
  const byMember = (m: string) => children.find((c) => selfOf.get(c) === m)!;
  // Rank 0 is the sequencer; the client talks to rank 1; rank 3 is made slow.
  const contact = byMember(view[1]!);
  const slow = byMember(view[3]!);
  const healthy = children.filter((c) => c !== slow);

  // The replicas run without a key (no TROUPE_KEY in their environment): so does the client.
  client = await connect({ group: 'bank', seeds: [seeds[children.indexOf(contact)]!], insecure: true });
  const bank = BankClient.connect(client);
  let done = 0;
  let failed = 0;
  let running = true;
  const worker = async (w: number) => {
    while (running) {
      try {
        await bank.deposit(`acct-${w % 8}`, 1);
        done++;
      } catch {
        failed++;
      }
    }
  };
  const workers = Array.from({ length: IN_FLIGHT }, (_, w) => worker(w));
  const rate = async (ms: number) => {
    const d0 = done;
    const s = Date.now();
    await sleep(ms);
    return ((done - d0) * 1000) / (Date.now() - s);
  };

  try {
    await sleep(1_000); // warm-up
    const steady = await rate(3_000);
    const rates: Record<string, number> = {};
    for (const [name, stopMs, runMs] of [
      ['80%', 40, 10],
      ['90%', 90, 10],
    ] as const) {
      const cycle = { on: true };
      const cycling = dutyCycle(slow.pid, stopMs, runMs, cycle);
      rates[name] = await rate(4_000);
      cycle.on = false;
      await cycling;
    }
    // Stays behind: stopped 98% of the time, so it cannot keep up with the group's load (while
    // it still runs every half second, which keeps the failure detector hearing it). It may
    // already have been removed in the phases above, if it fell behind there.
    const cycle = { on: true };
    const cycling = dutyCycle(slow.pid, 490, 10, cycle);
    const removals = () =>
      healthy.flatMap((c) =>
        c.events.filter((e) => e.event === 'view' && (e.failed as string[]).includes(selfOf.get(slow)!)),
      );
    await until(
      () => removals().length >= healthy.length,
      HEALTH.lagRemoveMs + 8_000,
      'the slow member removed',
    );
    cycle.on = false;
    await cycling;
    // Recovered: it rejoins as a new member and the group is 4 again.
    await until(
      () =>
        healthy.every(
          (c) =>
            (c.events.filter((e) => e.event === 'view').at(-1)?.members as string[] | undefined)?.length ===
            4,
        ),
      3 * HEALTH.rejoinDampMs,
      'the recovered member back in the group',
    );
    running = false;
    await Promise.all(workers);

    const history = children.map((c) => ({
      role:
        c === slow ? 'slow' : c === contact ? 'contact' : selfOf.get(c) === view[0] ? 'sequencer' : 'healthy',
      self: selfOf.get(c),
      events: c.events
        .filter((e) => ['view', 'partitioned', 'lagging'].includes(e.event))
        .map((e) => ({ ...e, members: undefined, left: undefined })),
    }));
    console.log(`slow member history: ${JSON.stringify(history)}`);
    // Only the slow member was ever removed; no healthy member was partitioned or reported.
    const healthySelves = new Set(healthy.map((c) => selfOf.get(c)!));
    for (const c of healthy) {
      expect(c.events.filter((e) => e.event === 'partitioned')).toEqual([]);
      for (const e of c.events.filter((x) => x.event === 'view'))
        for (const m of e.failed as string[]) expect(healthySelves.has(m)).toBe(false);
    }
    // The lag bound reported first, then removed: once the lag passed the report bound, the
    // removal bound (lagRemoveMs − lagReportMs later, the lag growing with time) plus a view change.
    const lag = healthy.flatMap((c) => c.events.filter((e) => e.event === 'lagging'));
    expect(lag.every((e) => !healthySelves.has(e.member as string))).toBe(true);
    const removedAt = Math.min(...removals().map((e) => e.at as number));
    // The report that opened the episode ending in the removal: the last one before it (in the
    // 80 % and 90 % phases the member may fall behind past the report bound and catch up again;
    // each new episode is reported afresh, and the removal bound exceeds the report bound).
    const reported = lag
      .filter((e) => e.removing === false && e.member === selfOf.get(slow) && (e.at as number) <= removedAt)
      .at(-1);
    expect(reported).toBeDefined();
    const removedAfter = removedAt - (reported!.at as number);
    // The removal came once its lag passed the bound, not long after. The wall time from the
    // report says little: a member running 10 ms in 500 catches up part of the way in each
    // slot, so its lag grows slower than the clock (a CI run: report at 1,006 ms of lag,
    // removal 5.3 s later at 3,172 ms). The decision's own lag does say it: the sequencer
    // checks every 250 ms, and a loaded machine may delay that by a second or so.
    const decision = lag
      .filter((e) => e.removing === true && e.member === selfOf.get(slow) && (e.at as number) <= removedAt)
      .at(-1);
    expect(decision).toBeDefined();
    expect(decision!.lagMs as number).toBeGreaterThanOrEqual(HEALTH.lagRemoveMs);
    expect(decision!.lagMs as number).toBeLessThan(HEALTH.lagRemoveMs + 1_500);
    // And the view change that carried it out followed at once.
    expect(removedAt - (decision!.at as number)).toBeLessThan(2_000);
    // Rejoins (a new incarnation's first view) at most once per damping period.
    const rejoins = slow.events
      .filter((e, i, all) => e.event === 'view' && all.findIndex((x) => x.self === e.self) === i)
      .map((e) => e.at as number);
    for (let i = 1; i < rejoins.length; i++)
      expect(rejoins[i]! - rejoins[i - 1]!).toBeGreaterThanOrEqual(HEALTH.rejoinDampMs - 200);
    // Each exclusion says when the member starts rejoining: at once the first time, then damped.
    const waits = slow.events.filter((e) => e.event === 'partitioned').map((e) => e.rejoinInMs);
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]).toBe(0);
    for (const w of waits) expect(w).toBeLessThanOrEqual(16 * HEALTH.rejoinDampMs);

    const summary = {
      steady,
      ...rates,
      removedAfter,
      rejoins: rejoins.length,
      failed,
      totalMs: Date.now() - t0,
    };
    console.log(`slow member: ${JSON.stringify(summary)}`);
    expect(rates['80%']! / steady).toBeGreaterThanOrEqual(0.7);
    expect(rates['90%']! / steady).toBeGreaterThanOrEqual(0.7);
  } finally {
    running = false;
    try {
      process.kill(slow.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
}, 120_000);
