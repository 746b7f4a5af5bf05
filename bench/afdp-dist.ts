/**
 * Distribution time of `troupe dist` to 1, 2, 4 (and more) receivers, against the same file sent
 * to each receiver in turn (what `scp` in a loop would do), measured in the same run.
 *
 *   npm run bench:dist -- [--mb 8] [--counts 1,2,4] [--multicast 239.255.77.1:47001]
 *   npm run bench:dist -- --netns [--mb 8] [--counts 1,2,4,8]      # root: one namespace per host
 *
 * `--netns` puts the sender and every receiver in its own network namespace (testkit/netns.ts:
 * veth pairs on one bridge, IP multicast flooded by the bridge), so each receiver is a separate
 * host as far as the network goes; they still share this machine's CPUs, so the CPU share the
 * processes used is printed beside the times. The sender's bytes on the wire are the kernel's
 * count on its bridge port. Namespaces, veths and the bridge are deleted at the end.
 *
 * Times are the sender's own (from its start of transfer to the last receiver's completion), so
 * process start-up is not counted; a 1 MB transfer to every receiver first warms the processes
 * up. Prints one JSON line per receiver count, with each time as a ratio to 1 receiver's.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLan, type Lan } from 'troupe/testkit';
import { cpuMs } from './lib/proc.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '8' },
    counts: { type: 'string' },
    multicast: { type: 'string' },
    netns: { type: 'boolean', default: false },
  },
});
const CLI = path.resolve('runtime/distrib/cli.ts');
const env = { ...process.env, TROUPE_KEY: randomBytes(32).toString('hex') };
const netns = values.netns;
const counts = (values.counts ?? (netns ? '1,2,4,8' : '1,2,4')).split(',').map(Number);
// Over the namespaces' bridge, IP multicast is the point; on one host it is opt-in.
const multicast = values.multicast ?? (netns ? '239.255.77.1:47001' : undefined);
const mc = multicast ? ['--multicast', multicast] : [];
const lan: Lan | undefined = netns
  ? createLan({ hosts: Math.max(...counts) + 1, prefix: 'trdist' })
  : undefined;
/** Host 0 sends; receiver i runs on host i + 1. */
const hostArgs = (h: number): string[] => (lan ? ['--host', lan.host(h).address] : []);

/** Children still running: killed (by pid) if this bench is interrupted. */
const live = new Set<ChildProcess>();
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    for (const c of live) c.kill('SIGKILL');
    process.exit(130); // the 'exit' hook of testkit/netns.ts deletes the namespaces
  });

function run(
  host: number,
  args: string[],
  onLine: (l: string) => void,
): { proc: ChildProcess; exited: Promise<number | null> } {
  const node = [process.execPath, '--import', 'tsx', CLI, ...args, ...hostArgs(host)];
  // `ip netns exec` execs node in place, so the child's pid is node's (its CPU time is readable).
  const [cmd, ...rest] = lan ? [...lan.wrapper(host), ...node] : node;
  const proc = spawn(cmd!, rest, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) onLine(l);
  });
  return { proc, exited: new Promise((r) => proc.on('exit', (c) => r(c))) };
}

/** CPU seconds a live process has used (0 if unknown). */
function cpuSeconds(pid: number | undefined): number {
  return (cpuMs(pid) ?? 0) / 1000;
}

/** Bytes the sender put on the wire: what its bridge port received (netns only). */
function senderWireBytes(): number {
  if (!lan) return 0;
  return Number(readFileSync(`/sys/class/net/${lan.host(0).port}/statistics/rx_bytes`, 'utf8'));
}

/** Datagrams the receivers' kernels dropped for a full socket buffer (netns only: per host). */
function receiverBufferDrops(hosts: readonly number[]): number {
  if (!lan) return 0;
  let sum = 0;
  for (const h of hosts) {
    const snmp = execFileSync('ip', [
      'netns',
      'exec',
      lan.host(h).ns.name,
      'cat',
      '/proc/net/snmp',
    ]).toString();
    const [names, vals] = snmp
      .split('\n')
      .filter((l) => l.startsWith('Udp:'))
      .map((l) => l.split(/\s+/));
    sum += Number(vals?.[names?.indexOf('RcvbufErrors') ?? -1] ?? 0);
  }
  return sum;
}

/** One sender run; resolves to the sender's measured ms and the CPU seconds every process used. */
async function send(
  file: string,
  seeds: string[],
  receivers: { proc: ChildProcess; host: number }[],
): Promise<{ ms: number; cpu: number; wire: number; drops: number }> {
  let ms = Number.NaN;
  let senderCpu = 0;
  const lines: string[] = [];
  const cpu0 = receivers.reduce((s, r) => s + cpuSeconds(r.proc.pid), 0);
  const wire0 = senderWireBytes();
  const drops0 = receiverBufferDrops(receivers.map((r) => r.host));
  // A loaded host answers announces slowly and can starve a receiver for seconds: wait up to 20 s
  // for every receiver to join, and drop one only after 20 s of silence.
  const args = [
    file,
    '--to',
    'bench',
    '--seeds',
    seeds.join(','),
    '--join-window',
    '20000',
    '--dead-ms',
    '20000',
    ...mc,
  ];
  const s = run(0, args, (l) => {
    lines.push(l);
    const m = /^dist: .* bytes in (\d+) ms.* cpu (\d+) ms/.exec(l);
    if (m) {
      ms = Number(m[1]);
      senderCpu = Number(m[2]) / 1000;
    }
  });
  const code = await Promise.race([
    s.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 300_000).unref()),
  ]);
  if (code !== 0) {
    s.proc.kill('SIGKILL');
    throw new Error(`sender failed: ${code}: ${lines.join(' | ')}`);
  }
  const cpu = senderCpu + receivers.reduce((t, r) => t + cpuSeconds(r.proc.pid), 0) - cpu0;
  return {
    ms,
    cpu,
    wire: senderWireBytes() - wire0,
    drops: receiverBufferDrops(receivers.map((r) => r.host)) - drops0,
  };
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const root = await mkdtemp(path.join(tmpdir(), 'troupe-bench-dist-'));
const file = path.join(root, 'payload.bin');
await writeFile(file, randomBytes(Number(values.mb) * 1024 * 1024));
const warm = path.join(root, 'warm.bin');
await writeFile(warm, randomBytes(1024 * 1024));
let oneMs: number | undefined;
try {
  for (const n of counts) {
    await writeFile(file, randomBytes(Number(values.mb) * 1024 * 1024));
    const addrs: string[] = [];
    const receivers = Array.from({ length: n }, (_, i) =>
      run(
        i + 1,
        [
          'receive',
          '--dir',
          path.join(root, `n${n}r${i}`),
          '--to',
          'bench',
          ...(lan ? ['--port', '7000'] : []),
          ...mc,
        ],
        (l) => {
          if (l.startsWith('listening ')) addrs.push(l.split(' ')[1]!);
        },
      ),
    );
    for (let t = 0; t < 1200 && addrs.length < n; t++) await new Promise((r) => setTimeout(r, 100));
    const load = loadavg()[0]!;
    let afdp: Awaited<ReturnType<typeof send>>;
    let sequentialMs = 0;
    try {
      if (addrs.length < n) throw new Error('receivers did not start');
      const procs = receivers.map((r, i) => ({ proc: r.proc, host: i + 1 }));
      // Warm-up: the first transfer into a fresh process pays its JIT and module loading.
      await send(warm, addrs, procs);
      afdp = await send(file, addrs, procs);
      // New bytes for every send: a receiver holding the file would be sent nothing (resume).
      for (const [i, a] of addrs.entries()) {
        await writeFile(file, randomBytes(Number(values.mb) * 1024 * 1024));
        sequentialMs += (await send(file, [a], [procs[i]!])).ms;
      }
    } finally {
      for (const r of receivers) r.proc.kill('SIGTERM');
      await Promise.all(receivers.map((r) => r.exited));
    }
    oneMs ??= n === 1 ? afdp.ms : undefined;
    console.log(
      JSON.stringify({
        receivers: n,
        mb: Number(values.mb),
        hosts: lan ? 'netns' : 'one',
        mode: multicast ? 'multicast' : 'fanout',
        afdpMs: afdp.ms,
        vsOneReceiver: oneMs ? round(afdp.ms / oneMs) : null,
        sequentialMs,
        sequentialVsAfdp: round(sequentialMs / afdp.ms),
        ...(lan ? { senderWireMB: round(afdp.wire / 2 ** 20, 1), receiverBufferDrops: afdp.drops } : {}),
        // CPU seconds every process used during the transfer over the seconds the machine had.
        cpuShare: round(afdp.cpu / ((afdp.ms / 1000) * cpus().length)),
        load1: round(load),
      }),
    );
  }
} finally {
  await rm(root, { recursive: true, force: true });
  const left = lan?.destroy() ?? [];
  if (left.length > 0) console.error(`bench:dist: left behind: ${left.join(', ')}`);
}
