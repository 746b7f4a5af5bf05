/**
 * Distribution time of `troupe dist` to 1, 2 and 4 receiver processes on this host, against the
 * same file sent to each receiver in turn (what `scp` in a loop would do).
 *
 *   npx tsx bench/afdp-dist.ts [--mb 8] [--counts 1,2,4] [--multicast 239.255.77.1:47001]
 *
 * Times are the sender's own (from its start of transfer to the last receiver's completion), so
 * process start-up is not counted; a 1 MB transfer to every receiver first warms the processes up. Prints one JSON line per receiver count.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '8' },
    counts: { type: 'string', default: '1,2,4' },
    multicast: { type: 'string' },
  },
});
const CLI = path.resolve('runtime/distrib/cli.ts');
const env = { ...process.env, TROUPE_KEY: randomBytes(32).toString('hex') };
const mc = values.multicast ? ['--multicast', values.multicast] : [];

function run(
  args: string[],
  onLine: (l: string) => void,
): { proc: ChildProcess; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) onLine(l);
  });
  return { proc, exited: new Promise((r) => proc.on('exit', (c) => r(c))) };
}

/** One sender run; resolves to the sender's measured ms. */
async function send(file: string, seeds: string[]): Promise<number> {
  let ms = Number.NaN;
  const lines: string[] = [];
  // A loaded host answers announces slowly: wait up to 20 s for every receiver to join.
  const s = run([file, '--to', 'bench', '--seeds', seeds.join(','), '--join-window', '20000', ...mc], (l) => {
    lines.push(l);
    const m = /^dist: .* bytes in (\d+) ms/.exec(l);
    if (m) ms = Number(m[1]);
  });
  const code = await Promise.race([
    s.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 300_000).unref()),
  ]);
  if (code !== 0) {
    s.proc.kill('SIGKILL');
    throw new Error(`sender failed: ${code}: ${lines.join(' | ')}`);
  }
  return ms;
}

const root = await mkdtemp(path.join(tmpdir(), 'troupe-bench-dist-'));
const file = path.join(root, 'payload.bin');
await writeFile(file, randomBytes(Number(values.mb) * 1024 * 1024));
const warm = path.join(root, 'warm.bin');
await writeFile(warm, randomBytes(1024 * 1024));
try {
  for (const n of values.counts.split(',').map(Number)) {
    const addrs: string[] = [];
    const receivers = Array.from({ length: n }, (_, i) =>
      run(['receive', '--dir', path.join(root, `n${n}r${i}`), '--to', 'bench', ...mc], (l) => {
        if (l.startsWith('listening ')) addrs.push(l.split(' ')[1]!);
      }),
    );
    for (let t = 0; t < 1200 && addrs.length < n; t++) await new Promise((r) => setTimeout(r, 100));
    let afdpMs: number;
    let sequentialMs = 0;
    try {
      if (addrs.length < n) throw new Error('receivers did not start');
      // Warm-up: the first transfer into a fresh process pays its JIT and module loading.
      await send(warm, addrs);
      afdpMs = await send(file, addrs);
      for (const a of addrs) sequentialMs += await send(file, [a]);
    } finally {
      for (const r of receivers) r.proc.kill('SIGTERM');
      await Promise.all(receivers.map((r) => r.exited));
    }
    console.log(
      JSON.stringify({
        receivers: n,
        mb: Number(values.mb),
        afdpMs,
        sequentialMs,
        mode: values.multicast ? 'multicast' : 'fanout',
      }),
    );
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
