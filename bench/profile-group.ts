// CPU profile of group members under cast load: `npx tsx bench/profile-group.ts [--size 1]
// [--members 3] [--protection none|auth|encrypt] [--seconds 3] [--top 25] [--dir <dir>]`.
// Runs the `group: total-order casts` workload (bench/entries/group-total.ts) with every member
// under `node --cpu-prof`, makes each exit cleanly so its profile is written, then prints, per
// member, where its CPU went: self time by source file and by function (bench/README.md,
// "Profiling a member"). The profiles stay in `--dir` for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessHarness } from 'troupe/testkit';
import { groupTotal, type Protection } from './entries/group-total.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1' },
    members: { type: 'string', default: '3' },
    protection: { type: 'string', default: 'none' },
    seconds: { type: 'string', default: '3' },
    top: { type: 'string', default: '25' },
    dir: { type: 'string' },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

/** Self time in ms per key, from the profile's samples (each sample is worth the mean interval). */
function selfTime(p: Profile, keyOf: (n: ProfileNode) => string): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const out = new Map<string, number>();
  for (const id of p.samples) {
    const k = keyOf(byId.get(id)!);
    out.set(k, (out.get(k) ?? 0) + msPerSample);
  }
  return out;
}

const shortUrl = (url: string): string => {
  if (!url) return '';
  const i = url.lastIndexOf('/node_modules/');
  if (i >= 0) return url.slice(i + '/node_modules/'.length).split('/')[0]!;
  const root = url.indexOf(process.cwd());
  return root >= 0 ? url.slice(root + process.cwd().length + 1) : url.replace(/^file:\/\//, '');
};

function table(title: string, times: Map<string, number>, total: number, top: number): void {
  console.log(`  ${title}`);
  for (const [k, ms] of [...times].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `    ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${k}`,
    );
  }
}

const dir = path.resolve(values.dir ?? path.join(os.tmpdir(), `troupe-prof-${process.pid}`));
mkdirSync(dir, { recursive: true });
const seconds = Number(values.seconds);
const procs = new ProcessHarness();
try {
  const m = await groupTotal(
    {
      quick: false,
      limits: { maxOps: 10_000_000, maxSeconds: seconds },
      procs,
      log: (s) => void process.stderr.write(`${s}\n`),
    },
    {
      size: Number(values.size),
      members: Number(values.members),
      protection: values.protection as Protection,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
      after: async (members) => {
        for (const c of members) c.send({ cmd: 'exit' });
        await Promise.all(members.map((c) => c.exited));
      },
    },
  );
  console.log(
    `${m.rate!.value.toFixed(0)} ${m.rate!.unit} over ${m.seconds.toFixed(2)} s; load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; profiles in ${dir}`,
  );
  const top = Number(values.top);
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Profile;
    const byFile = selfTime(p, (n) => shortUrl(n.callFrame.url) || n.callFrame.functionName);
    const total = [...byFile.values()].reduce((a, b) => a + b, 0);
    console.log(`\n${f}: ${total.toFixed(0)} ms profiled`);
    table('self time by file', byFile, total, top);
    table(
      'self time by function',
      selfTime(
        p,
        (n) =>
          `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url) || 'native'}:${n.callFrame.lineNumber + 1}`,
      ),
      total,
      top,
    );
  }
} finally {
  await procs.stopAll();
}
