// Where a benchmark's bytes are allocated: runs a module (e.g. the compiled
// .bench-build/bench/inproc-call.js) under V8's sampling heap profiler with collected objects
// kept in the counts, so short-lived garbage shows (a CPU profile shows the collector's time,
// not who made the garbage). Prints the bytes sampled and the top allocating functions.
//
//   npm run build && npx tsc -p tsconfig.bench.json
//   node .bench-build/bench/heap-sample.js .bench-build/bench/inproc-call.js --outstanding 64 --calls 20000 --rounds 2
//   node .bench-build/bench/heap-sample.js .bench-build/bench/group-cpu.js --rounds 1 --casts 40000
//
// A built-in's bytes (`slice`, `set`) are shown with the function that called it; HEAP_SAMPLE_ROWS
// sets how many sites are printed (default 30).
//
// Run it compiled, with node: under tsx the tsconfig paths send `troupe/*` imports to the
// TypeScript sources instead of dist/, whatever dist holds.
//
// The module's own arguments follow its path. Figures are samples (one per 4 KB on average), so
// compare totals of runs of the same command, not single rows (docs/performance.md).
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SampleNode[];
}

const [target, ...rest] = process.argv.slice(2);
if (!target) {
  console.error('usage: node .bench-build/bench/heap-sample.js <module.js> [its arguments]');
  process.exit(2);
}
process.argv.splice(2, process.argv.length - 2, ...rest);
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
} as never);
// The module may end with process.exit(): report then instead of exiting.
const exit = process.exit;
let ended!: () => void;
const exited = new Promise<void>((resolve) => {
  ended = resolve;
});
process.exit = (() => ended()) as typeof process.exit;
await Promise.race([import(pathToFileURL(path.resolve(target)).href), exited]);
const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SampleNode } };
const bySite = new Map<string, number>();
let total = 0;
// A built-in (`slice`, `set`: no script) is named with its caller, which is what one can change.
const walk = (n: SampleNode, caller: string): void => {
  const f = n.callFrame;
  const here = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  const site = f.url === '' && caller !== '' ? `${f.functionName || '(anonymous)'} ← ${caller}` : here;
  total += n.selfSize;
  bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
  for (const c of n.children) walk(c, f.url === '' ? caller : here);
};
walk(profile.head, '');
console.log(`sampled bytes ${(total / 1e6).toFixed(1)} MB`);
for (const [site, bytes] of [...bySite]
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(process.env.HEAP_SAMPLE_ROWS ?? 30)))
  console.log(
    `${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${(bytes / 1e6).toFixed(1).padStart(7)} MB  ${site}`,
  );
exit(0);
