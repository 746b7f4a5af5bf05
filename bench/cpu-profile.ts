// Summarizes a V8 CPU profile (`node --cpu-prof`, e.g. written by the rpc entries under
// `TROUPE_BENCH_CPU_PROF=<dir>`): where the samples of its last `seconds` went, by area (troupe
// module folder, rpc file, msgpackr, node internals, GC, idle) and by function.
//
//   npx tsx bench/cpu-profile.ts <file.cpuprofile> [seconds]
//
// `seconds` (default: all) keeps only the end of the profile: the measured window of an entry,
// not the process start-up (module loading under tsx is most of a short child's profile).
// Figures are shares of the samples; on a loaded machine `(idle)` shrinks and every share is of
// wall time the process was scheduled, so compare shares, not absolute times.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, secondsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: npx tsx bench/cpu-profile.ts <file.cpuprofile> [seconds]');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const windowUs = secondsArg === undefined ? Number.POSITIVE_INFINITY : Number(secondsArg) * 1e6;
const nodes = new Map(p.nodes.map((n) => [n.id, n]));

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : 'native';
  if (url.includes('msgpackr')) return 'msgpackr';
  if (url.includes('/runtime/rpc/')) return `rpc/${url.split('/runtime/rpc/')[1]}`;
  if (url.includes('/runtime/')) return `runtime/${url.split('/runtime/')[1]!.split('/')[0]}`;
  if (url.includes('node_modules/')) return `dep ${url.split('node_modules/')[1]!.split('/')[0]}`;
  if (url.startsWith('node:')) return url;
  return url.split('/').slice(-2).join('/');
}

const byArea = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
let t = p.startTime;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i] ?? 0;
  t += dt;
  if (p.endTime - t > windowUs) continue;
  const cf = nodes.get(p.samples[i]!)!.callFrame;
  const fn = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  byArea.set(area(cf.url, cf.functionName), (byArea.get(area(cf.url, cf.functionName)) ?? 0) + dt);
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
  total += dt;
}
const top = (m: Map<string, number>, n: number): string =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`)
    .join('\n');
console.log(`${file}: ${(total / 1e6).toFixed(2)} s of samples\n\nby area\n${top(byArea, 15)}`);
console.log(`\nby function (self time)\n${top(byFunction, 20)}`);
