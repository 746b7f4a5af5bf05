// CPU cost of a totally ordered cast through the whole group stack, less dependent on the
// machine's load than wall time: `npx tsx bench/group-cpu.ts [--members 3] [--casts 20000] [--rounds 3]`. Every member
// runs in this one process over an in-process hub (runtime/transport/memory.ts), all of them
// casting, so the process's CPU time (user + system, `process.cpuUsage`) divided by the casts is
// what one cast costs the group: its encoding, every member's decoding, ordering and delivery,
// without sockets. A loaded machine stretches the wall time far more than this figure (still
// ±40 % from round to round at load 30), hence also the scavenge count (docs/performance.md).
// Scavenges per cast count allocation; NODE_OPTIONS=--max-semi-space-size=1 makes the count finer.
// Bytes allocated per cast (JS heap, from V8's heap size before and after each collection while
// casting: `v8.GCProfiler`) count it directly; casts/s is wall time, which load stretches.
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { type Group, joinGroup, MemoryHub } from 'troupe/group';

const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '3' },
    casts: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '1000' },
  },
});
const MEMBERS = Number(values.members);
const CASTS = Number(values.casts);
const WINDOW = Number(values.window);
const KEY = 'bench group key, at least 32 bytes long';

interface Figures {
  cpuUs: number;
  wallUs: number;
  gcPer1k: number;
  /** JS heap bytes allocated per cast. */
  bytes: number;
}

interface GcStat {
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

/** Bytes allocated on the JS heap between `start` (used heap size then) and now, from the
 * collections `stats` recorded in between: what each found in use, less what the last left. */
function allocatedSince(start: number, stats: readonly GcStat[]): number {
  let bytes = 0;
  let after = start;
  for (const s of stats) {
    bytes += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - after);
    after = s.afterGC.heapStatistics.usedHeapSize;
  }
  return bytes + Math.max(0, getHeapStatistics().used_heap_size - after);
}

async function measure(size: number, keyed: boolean, round: number): Promise<Figures> {
  const hub = new MemoryHub();
  const addresses = Array.from({ length: MEMBERS }, (_, i) => `m${i}:${round}`);
  const security = keyed ? { key: KEY } : { insecure: true as const };
  const groups: Group[] = await Promise.all(
    addresses.map((a) =>
      joinGroup(`cpu-${size}-${keyed}-${round}`, {
        seeds: addresses,
        transport: hub.attach(a),
        joinTimeoutMs: 20_000,
        // One process starved by a loaded machine must not exclude its own members: a view
        // change would lose an excluded member's casts and end the round short.
        health: {
          suspectMs: 20_000,
          partitionMs: 60_000,
          lagReportMs: 0,
          lagRemoveMs: 0,
          lagReportBytes: 0,
          lagRemoveBytes: 0,
        },
        ...security,
      }),
    ),
  );
  for (let i = 0; i < 500 && groups.some((g) => g.view?.members.length !== MEMBERS); i++)
    await new Promise((r) => setTimeout(r, 10));
  const perMember = Math.floor(CASTS / MEMBERS);
  const expected = perMember * MEMBERS * MEMBERS;
  const payload = new Uint8Array(size).fill(0x2e);
  let delivered = 0;
  const own = groups.map(() => 0);
  const cast = groups.map(() => 0);
  groups.forEach((g, i) => {
    g.on('deliver', (d) => {
      delivered++;
      if (d.sender === g.self) own[i]!++;
    });
  });
  // Scavenges (young-generation collections) while casting: the semi-space is a fixed size, so
  // their count per cast follows the bytes allocated per cast, which load does not distort.
  let scavenges = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR)
        scavenges++;
  });
  gc.observe({ entryTypes: ['gc'] });
  const gcProfiler = new GCProfiler();
  gcProfiler.start();
  const heap0 = getHeapStatistics().used_heap_size;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Bounded in turns and in time: a stuck group ends the round with what it delivered.
  for (let turn = 0; turn < 1_000_000 && delivered < expected && performance.now() - t0 < 60_000; turn++) {
    groups.forEach((g, i) => {
      for (let n = 0; n < 64 && cast[i]! < perMember && cast[i]! - own[i]! < WINDOW; n++) {
        g.cast(payload);
        cast[i]!++;
      }
    });
    await new Promise((r) => setImmediate(r));
  }
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = process.cpuUsage(cpu0);
  const allocated = allocatedSince(heap0, (gcProfiler.stop()?.statistics ?? []) as unknown as GcStat[]);
  await new Promise((r) => setImmediate(r)); // gc entries are delivered asynchronously
  gc.disconnect();
  if (delivered < expected)
    throw new Error(
      `round ${round}: ${delivered} of ${expected} delivered in ${(wallUs / 1e6).toFixed(1)} s; views ${groups.map((g) => g.view?.members.length).join(',')}`,
    );
  await Promise.all(groups.map((g) => g.leave(1_000)));
  const casts = perMember * MEMBERS;
  return {
    cpuUs: (cpu.user + cpu.system) / casts,
    wallUs: wallUs / casts,
    gcPer1k: (1000 * scavenges) / casts,
    bytes: allocated / casts,
  };
}

// A first round warms the JIT up; its figure is not reported.
await measure(1, false, -1);
for (const size of [1, 1024]) {
  for (const keyed of [false, true]) {
    const runs: Figures[] = [];
    for (let r = 0; r < Number(values.rounds); r++) runs.push(await measure(size, keyed, r));
    const cpu = runs.map((x) => x.cpuUs).sort((a, b) => a - b);
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `${MEMBERS} members, ${size} B, ${keyed ? 'keyed  ' : 'insecure'}: CPU per cast (whole group) ` +
        `median ${cpu[Math.floor(cpu.length / 2)]!.toFixed(1)} µs (runs ${cpu.map((c) => c.toFixed(1)).join(', ')}); ` +
        `KB allocated per cast median ${(median(runs.map((x) => x.bytes)) / 1024).toFixed(2)} ` +
        `(runs ${runs.map((x) => (x.bytes / 1024).toFixed(2)).join(', ')}); ` +
        `casts/s median ${Math.round(median(runs.map((x) => 1e6 / x.wallUs)))}; ` +
        `scavenges per 1,000 casts ${runs.map((x) => x.gcPer1k.toFixed(1)).join(', ')}`,
    );
  }
}
