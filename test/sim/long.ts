/**
 * `npm run sim:long`: 100,000 simulator seeds across every mode, on worker processes.
 *
 *   npm run sim:long                         all modes, 100,000 seeds, 2 workers
 *   npm run sim:long -- --seeds 2000         a sample (seeds split across modes by weight)
 *   npm run sim:long -- --modes rpc-partition --seeds 500 --workers 1
 *
 *   npm run sim:long -- --digest 8 [--trace] per mode, seeds base..base+7: a digest per seed
 *   npm run sim:long -- --results F          resumable: chunks already in F (same commit) are
 *                                            skipped, each finished chunk is appended to F
 *   npm run sim:long -- --offset 50000       every mode's seeds start 50,000 after its base (fresh seeds)
 *   npm run sim:long -- --budget 3000        stop handing out chunks after 3000 s; the report
 *                                            covers the chunks done
 *   npm run sim:long -- --modes mixed --seeds 5000
 *                                            combinations nobody chose: each seed draws group or
 *                                            RPC, its faults and features (not in the default run)
 *
 * Prints a progress line every 10 s (seeds done, rate, projected end), then per mode its seed
 * range and violations, the wall time, and a replay command per failing seed (each failing seed
 * is also printed as soon as its chunk ends). Exits non-zero on a violation. Expected
 * unavailability (RPC mode, test/sim/majority.ts) is counted apart. The modes: test/sim/modes.ts.
 */
import { execFileSync, fork } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MODES, optionsOf } from './modes.js';
import { replayCommand, runSeed, type SeedResult, summarize } from './run.js';
import { runCli, UsageError } from './usage.js';

interface Chunk {
  mode: number;
  lo: number;
  hi: number;
}
interface ChunkResult {
  /** The commit that ran it (`+dirty` with uncommitted changes): a results file resumes only its own. */
  commit?: string;
  mode: number;
  lo: number;
  hi: number;
  failures: { seed: number; lines: string[] }[];
  violations: number;
  /** Seeds that lost their majority (expected unavailability). */
  expected: number;
}

async function runChunk(c: Chunk): Promise<ChunkResult> {
  const m = MODES[c.mode]!;
  const out: ChunkResult = { ...c, failures: [], violations: 0, expected: 0 };
  for (let seed = c.lo; seed <= c.hi; seed++) {
    const r = await runSeed(optionsOf(m, seed), seed);
    if (r.lostMajority) out.expected++;
    if (r.violations.length > 0) {
      out.violations += r.violations.length;
      out.failures.push({ seed, lines: summarize(r.violations).slice(0, 4) });
    }
  }
  return out;
}

function worker(): void {
  process.on('message', (c: Chunk | 'stop') => {
    if (c === 'stop') process.exit(0);
    void runChunk(c).then((r) => process.send!(r));
  });
}

/**
 * The first `n` seeds of each mode, one line each: mode, seed, violation count and the run's
 * digest ({@link SeedResult.digest}; with `trace`, traced, so the trace is in it). Two commits
 * that print the same lines ran the same simulations: the check that a speed-up changed nothing.
 */
async function digests(modes: string, n: number, trace: boolean): Promise<number> {
  for (const name of modes.split(',')) {
    const m = MODES.find((x) => x.name === name);
    if (!m) throw new UsageError(`unknown mode '${name}'`);
    for (let seed = m.base; seed < m.base + n; seed++) {
      const r = await runSeed({ ...optionsOf(m, seed), trace }, seed);
      process.stdout.write(`${m.name} ${seed} ${r.violations.length} ${r.digest()}\n`);
    }
  }
  return 0;
}

/** The checked-out commit, `+dirty` when the work tree differs (a results file's key). */
function commitOf(): string {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim();
  try {
    return `${git('rev-parse', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? '+dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}

/** The chunks a results file holds for `commit` (other commits' lines are not this run's). */
function earlier(file: string, commit: string): ChunkResult[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as ChunkResult)
    .filter((r) => r.commit === commit);
}

const HELP = `npm run sim:long -- [options]   many simulator seeds on worker processes

  --seeds N          seeds in all, split across the modes by weight (default 100000)
  --modes LIST       of ${MODES.map((m) => m.name).join(',')}
                     (default: every mode of weight > 0; 'mixed' draws each seed's mode, faults
                     and features)
  --offset N         every mode's seeds start N after its base (fresh seeds; default 0)
  --workers N        worker processes (default 2)
  --chunk N          seeds per chunk handed to a worker (default 25)
  --budget S         stop handing out chunks after S seconds; the report covers the chunks done
  --results F        resumable: chunks already in F (same commit) are skipped, each finished
                     chunk is appended to F
  --digest N         per mode, seeds base..base+N-1: a digest per seed (with --trace: traces)

Prints progress every 10 s, per mode its seed range and violations, and a replay command per
failing seed; exits 1 on a violation.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '100000' },
      workers: { type: 'string', default: '2' },
      modes: {
        type: 'string',
        default: MODES.filter((m) => m.weight > 0)
          .map((m) => m.name)
          .join(','),
      },
      chunk: { type: 'string', default: '25' },
      worker: { type: 'boolean', default: false },
      digest: { type: 'string' },
      results: { type: 'string' },
      budget: { type: 'string' },
      offset: { type: 'string', default: '0' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (values.worker) {
    worker();
    return 0;
  }
  if (values.digest !== undefined) return digests(values.modes, Number(values.digest), values.trace);
  const chosen = values.modes.split(',').map((n) => {
    const i = MODES.findIndex((m) => m.name === n);
    if (i < 0) throw new UsageError(`unknown mode '${n}' (modes: ${MODES.map((m) => m.name).join(', ')})`);
    return i;
  });
  const total = Number(values.seeds);
  // Seeds nobody ran before: every mode's range starts `offset` seeds after its base.
  const offset = Number(values.offset);
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new UsageError(`--offset must be a count, got '${values.offset}'`);
  // Modes of weight 0 (not in the default run) count as weight 1 when chosen by name.
  const weightOf = (i: number) => MODES[i]!.weight || 1;
  const weight = chosen.reduce((s, i) => s + weightOf(i), 0);
  const ranges = chosen.map((i, k) => {
    const n =
      k === chosen.length - 1
        ? total - chosen.slice(0, k).reduce((s, j) => s + Math.floor((total * weightOf(j)) / weight), 0)
        : Math.floor((total * weightOf(i)) / weight);
    const lo = MODES[i]!.base + offset;
    return { mode: i, lo, hi: lo + n - 1 };
  });
  // Chunks interleave the modes, so a sample's rate is the mix's and the slow RPC seeds spread out.
  const size = Number(values.chunk);
  const queues = ranges.map((r) => {
    const q: Chunk[] = [];
    for (let lo = r.lo; lo <= r.hi; lo += size)
      q.push({ mode: r.mode, lo, hi: Math.min(r.hi, lo + size - 1) });
    return q;
  });
  const chunks: Chunk[] = [];
  while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) chunks.push(q.shift()!);

  const commit = commitOf();
  const results: ChunkResult[] = values.results ? earlier(values.results, commit) : [];
  const had = new Set(results.map((r) => `${r.mode}:${r.lo}:${r.hi}`));
  for (let i = chunks.length - 1; i >= 0; i--) {
    const c = chunks[i]!;
    if (had.has(`${c.mode}:${c.lo}:${c.hi}`)) chunks.splice(i, 1);
  }
  let done = results.reduce((n, r) => n + r.hi - r.lo + 1, 0);
  if (done > 0)
    process.stdout.write(`  resuming: ${done} seeds already in ${values.results} for ${commit}\n`);
  const resumed = done;
  const budget = values.budget === undefined ? Number.POSITIVE_INFINITY : Number(values.budget) * 1000;
  const started = performance.now();
  const progress = setInterval(() => {
    const s = (performance.now() - started) / 1000;
    const rate = (done - resumed) / s;
    const left = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    const bad = results.reduce((n, r) => n + r.failures.length, 0);
    process.stdout.write(
      `  ${done}/${total} seeds, ${rate.toFixed(1)}/s, ${bad} failing, ${s.toFixed(0)} s elapsed, ~${left.toFixed(0)} s left\n`,
    );
  }, 10_000);
  const file = fileURLToPath(import.meta.url);
  const workers = Math.max(1, Number(values.workers));
  await Promise.all(
    Array.from({ length: workers }, () => {
      const child = fork(file, ['--worker'], { execArgv: process.execArgv });
      return new Promise<void>((resolve, reject) => {
        const next = () => {
          const c = performance.now() - started < budget ? chunks.shift() : undefined;
          if (c) child.send(c);
          else child.send('stop');
        };
        child.on('message', (r: ChunkResult) => {
          results.push(r);
          if (values.results) appendFileSync(values.results, `${JSON.stringify({ ...r, commit })}\n`);
          const m = MODES[r.mode]!;
          for (const f of r.failures)
            process.stdout.write(
              `  FAIL ${m.name} seed ${f.seed}: ${f.lines[0]}\n  replay: ${replayCommand(optionsOf(m, f.seed), f.seed)}\n`,
            );
          done += r.hi - r.lo + 1;
          next();
        });
        child.on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`)),
        );
        next();
      });
    }),
  );
  clearInterval(progress);
  const wall = (performance.now() - started) / 1000;
  let violations = 0;
  for (const r of ranges) {
    const mine = results.filter((x) => x.mode === r.mode);
    const ran = mine.reduce((n, x) => n + x.hi - x.lo + 1, 0);
    const v = mine.reduce((n, x) => n + x.violations, 0);
    const failing = mine.reduce((n, x) => n + x.failures.length, 0);
    const expected = mine.reduce((n, x) => n + x.expected, 0);
    violations += v;
    const m = MODES[r.mode]!;
    process.stdout.write(
      `${m.name}: seeds ${r.lo}..${r.hi} (${ran === r.hi - r.lo + 1 ? ran : `${ran} of ${r.hi - r.lo + 1} run`}), ${failing} failing seeds, ${v} violations` +
        `${m.opts.rpc || m.draw ? `, ${expected} lost their majority (expected unavailability)` : ''}\n`,
    );
    for (const x of mine)
      for (const f of x.failures) {
        for (const l of f.lines) process.stdout.write(`  seed ${f.seed}: ${l}\n`);
        process.stdout.write(`  replay: ${replayCommand(optionsOf(m, f.seed), f.seed)}\n`);
      }
  }
  process.stdout.write(
    `${done} of ${total} seeds (${done - resumed} in ${wall.toFixed(0)} s wall time, ${((done - resumed) / wall).toFixed(1)} seeds/s, ${workers} workers), ${violations} violations\n`,
  );
  return violations > 0 ? 1 : 0;
}

await runCli('npm run sim:long', main);
