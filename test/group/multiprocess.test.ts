// Three group members, each its own Node process, over UDP on 127.0.0.1: 10,000 totally ordered
// casts must be delivered in the same order everywhere, also when one member is SIGKILLed mid-load.
//
// Ports: each child binds port 0 and reports the address the kernel gave it; the parent then sends
// every child the full seed list before any of them joins (no bind-and-release race).
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, type ChildEvent, ProcessHarness } from '../support/processes.js';

const MEMBER = 'test/group/fixtures/member.ts';
// Failure detection a loaded 2-CPU machine can keep up with (three members, vitest's workers):
// a 1 s silence is a failure, not a busy process; still fast enough to see the kill quickly.
const FAST = { gms: { heartbeatMs: 100, suspectMs: 1_000, bootstrapMs: 200, joinRetryMs: 50 } };
const TOTAL = 10_000;
const SHARES = [3_334, 3_333, 3_333];
const TAGS = ['m0', 'm1', 'm2'];
/** The kill test's second load, cast by each survivor after the kill. */
const LATE = 1_200;
const LATE_TAGS = ['m0-late', 'm1-late'];

let procs = new ProcessHarness();
afterEach(async () => {
  await procs.stopAll();
  procs = new ProcessHarness();
});

interface Report extends ChildEvent {
  self: string;
  count: number;
  hash: string;
  hashWithView: string;
  perSender: Record<string, number>;
  perView: Record<string, number>;
  perTag: Record<string, number>;
  gseqGaps: number;
  spanMs: number;
  castMs: number;
  maxLagMs: number;
  maxLagAt: number;
  views: unknown[];
  events: unknown[];
  waitedMs: number;
  view: { id: number; members: string[] } | undefined;
  stats: Record<string, Record<string, number>>;
  errors: string[];
}

const viewOf = (n: number) => (e: ChildEvent) => e.event === 'view' && (e.members as string[]).length === n;

/** Starts 3 members, joins them into `group` and waits until each has installed a 3-member view. */
async function threeMembers(group: string): Promise<{ members: Child[]; selves: string[] }> {
  const members = await Promise.all(
    [0, 1, 2].map((i) => procs.start(MEMBER, { name: `member-${i}`, ready: 'ready', args: ['500'] })),
  );
  const seeds = members.map((m) => m.events.find((e) => e.event === 'ready')!.address as string);
  const joined = await Promise.all(
    members.map((m) => m.request({ cmd: 'join', group, seeds, layers: FAST }, 'joined', 12_000)),
  );
  await Promise.all(members.map((m) => m.waitFor(viewOf(3), 10_000)));
  return { members, selves: joined.map((j) => j.self as string) };
}

/** What each member reported, for failure messages: counts, hashes and the layers' counters. */
function diagnose(reports: Report[]): string {
  return JSON.stringify(
    reports.map((r) => ({
      self: r.self,
      count: r.count,
      hash: r.hash.slice(0, 16),
      perTag: r.perTag,
      perView: r.perView,
      gseqGaps: r.gseqGaps,
      castMs: r.castMs,
      maxLagMs: r.maxLagMs,
      maxLagAt: r.maxLagAt,
      view: r.view,
      views: r.views,
      events: r.events,
      errors: r.errors,
      stats: r.stats,
    })),
    null,
    1,
  );
}

describe('a group of three member processes over UDP on loopback', () => {
  it('delivers 10,000 concurrent totally ordered casts in the same order at every member', async () => {
    const { members } = await threeMembers('mp-total');
    const t0 = Date.now();
    // Every member casts its whole share at once; only the library paces them.
    const casts = members.map((m) => m.waitFor('cast', 15_000));
    members.forEach((m, i) => {
      m.send({ cmd: 'cast', count: SHARES[i], tag: TAGS[i] });
    });
    await Promise.all(casts);
    const reports = (await Promise.all(
      members.map((m) =>
        m.request({ cmd: 'report', expect: TOTAL, timeoutMs: 20_000, idleMs: 5_000 }, 'report', 25_000),
      ),
    )) as Report[];
    const ms = Date.now() - t0;
    const why = diagnose(reports);
    console.log(
      `10,000 casts, 3 processes: delivered ${reports.map((r) => r.count).join('/')} in ${ms} ms ` +
        `(delivery spans ${reports.map((r) => Math.round(r.spanMs)).join('/')} ms), ` +
        `hashes ${reports.map((r) => r.hash.slice(0, 12)).join('/')}`,
    );
    for (const r of reports) {
      expect(r.count, why).toBe(TOTAL);
      expect(r.perTag, why).toEqual(Object.fromEntries(TAGS.map((t, i) => [t, SHARES[i]])));
      expect(r.gseqGaps, why).toBe(0);
    }
    expect(reports[1]!.hash, why).toBe(reports[0]!.hash);
    expect(reports[2]!.hash, why).toBe(reports[0]!.hash);
    expect(reports[1]!.hashWithView, why).toBe(reports[0]!.hashWithView);
    expect(reports[2]!.hashWithView, why).toBe(reports[0]!.hashWithView);
  }, 45_000);

  it('survivors of a member SIGKILLed mid-load install a 2-member view and deliver identical logs', async () => {
    const { members, selves } = await threeMembers('mp-kill');
    const victim = members[2]!;
    const survivors = members.slice(0, 2);
    const t0 = Date.now();
    members.forEach((m, i) => {
      m.send({ cmd: 'cast', count: SHARES[i], tag: TAGS[i] });
    });
    // Kill the victim as soon as its cast loop returns: its casts are in flight (or still in its
    // socket buffer), the survivors are busy with their own shares and few are ordered yet.
    const victimCast = await victim.waitFor('cast', 15_000);
    const exit = await victim.kill('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    const killedAt = Date.now() - t0;
    // Deliveries at each survivor just after the victim was reaped.
    const atKill = await Promise.all(survivors.map((m) => m.request({ cmd: 'stats' }, 'stats', 5_000)));
    // A second load, spread over 3 s, keeps the survivors casting across the failure detection
    // (suspectMs 1 s) and the flush: on a fast machine the first shares may all be delivered
    // before the victim is reaped.
    survivors.forEach((m, i) => {
      m.send({ cmd: 'cast', count: LATE, tag: LATE_TAGS[i], chunk: LATE / 30, everyMs: 100 });
    });
    // The view that removes the victim (a 2-member view may also have come earlier, while the
    // group was forming: founding needs only a majority of the seeds).
    const removal = (e: ChildEvent) => viewOf(2)(e) && ((e.failed as string[]) ?? []).includes(selves[2]!);
    const views = await Promise.all(survivors.map((m) => m.waitFor(removal, 10_000)));
    // Every message a survivor cast must be delivered at both survivors.
    const expectTags = {
      [TAGS[0]!]: SHARES[0]!,
      [TAGS[1]!]: SHARES[1]!,
      [LATE_TAGS[0]!]: LATE,
      [LATE_TAGS[1]!]: LATE,
    };
    const reports = (await Promise.all(
      survivors.map((m) =>
        m.request({ cmd: 'report', expectTags, timeoutMs: 20_000, idleMs: 5_000 }, 'report', 25_000),
      ),
    )) as Report[];
    // Anything still in flight lands now, or never: ask again after a short pause and compare.
    await new Promise((r) => setTimeout(r, 300));
    const final = (await Promise.all(
      survivors.map((m) => m.request({ cmd: 'report', expect: 0, timeoutMs: 0 }, 'report', 5_000)),
    )) as Report[];
    const ms = Date.now() - t0;
    const why = diagnose(final);
    console.log(
      `kill test: victim killed at ${killedAt} ms, after its ${Math.round(victimCast.ms as number)} ms ` +
        `cast loop; survivors had delivered ${atKill.map((a) => a.count).join('/')} just after it was reaped; ` +
        `survivors delivered ${final.map((r) => r.count).join('/')} ` +
        `(victim's casts ${final.map((r) => r.perTag[TAGS[2]!] ?? 0).join('/')}) in ${ms} ms, ` +
        `hashes ${final.map((r) => r.hash.slice(0, 12)).join('/')}`,
    );
    // Both survivors, in their original incarnations, installed {survivors} with the victim failed.
    for (const v of views) {
      expect([...(v.members as string[])].sort(), why).toEqual(selves.slice(0, 2).sort());
      expect(v.failed, why).toEqual([selves[2]]);
    }
    expect(reports.map((r) => r.count)).toEqual(final.map((r) => r.count));
    for (const r of final) {
      expect(r.perTag[TAGS[0]!], why).toBe(SHARES[0]);
      expect(r.perTag[TAGS[1]!], why).toBe(SHARES[1]);
      expect(r.perTag[LATE_TAGS[0]!], why).toBe(LATE);
      expect(r.perTag[LATE_TAGS[1]!], why).toBe(LATE);
      expect(r.gseqGaps, why).toBe(0);
      // The load ran across the view change: casts were delivered in the view that removed the
      // victim too, not all before it.
      expect(r.perView[String(views[0]!.id)] ?? 0, why).toBeGreaterThan(0);
      expect([...(r.view?.members ?? [])].sort(), why).toEqual(selves.slice(0, 2).sort());
    }
    expect(final[1]!.count, why).toBe(final[0]!.count);
    expect(final[1]!.hash, why).toBe(final[0]!.hash);
    expect(final[1]!.hashWithView, why).toBe(final[0]!.hashWithView);
  }, 45_000);
});
