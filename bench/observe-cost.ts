/**
 * What observability costs under load: 3 bank replica processes over UDP on 127.0.0.1 and a
 * non-member client (this process) keeping 64 ordered `deposit` calls in flight, measured with
 * and without an `Observer` + `metricsServer` in every replica, and `/metrics` of each replica
 * scraped every `--scrape-ms` (default 1000) during the "on" runs. Runs alternate off/on
 * `--pairs` times (default 3, `--seconds` each, default 4) so both see the same machine. Two
 * figures: the ratio of median throughputs, and the ratio of median CPU time per call summed
 * over the 3 replica processes (process.cpuUsage, user + system). On a shared, loaded machine the
 * second is the steadier: at saturation throughput goes as 1 / CPU per call.
 *
 *   npx tsx bench/observe-cost.ts [--pairs 3] [--seconds 4] [--scrape-ms 1000]
 *
 * A child replica is this file with `--child PORT SEEDS OBSERVE`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Bank } from '../examples/bank/bank.js';
import { validateBankRequest } from '../examples/bank/generated/bank.model.js';
import { Observer } from '../runtime/observe/observer.js';
import { metricsServer } from '../runtime/observe/server.js';
import { connect, joinReplica } from '../runtime/rpc/index.js';
import { udp } from '../runtime/transport/udp.js';
import { freePorts } from '../testkit/ports.js';

const { values: flags } = parseArgs({
  options: {
    child: { type: 'string' },
    seeds: { type: 'string' },
    observe: { type: 'string' },
    pairs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    'scrape-ms': { type: 'string', default: '1000' },
  },
});

const cpuWaiters = new Map<ChildProcess, ((us: number) => void)[]>();

/** CPU time (µs) the replica processes have used so far, summed. */
async function cpu(procs: ChildProcess[]): Promise<number> {
  const each = await Promise.all(
    procs.map(
      (p) =>
        new Promise<number>((resolve) => {
          const list = cpuWaiters.get(p) ?? [];
          list.push(resolve);
          cpuWaiters.set(p, list);
          p.stdin!.write('cpu\n');
        }),
    ),
  );
  return each.reduce((a, b) => a + b, 0);
}

async function startGroup(
  observe: boolean,
): Promise<{ procs: ChildProcess[]; seeds: string[]; urls: string[] }> {
  const ports = await freePorts(3);
  const seeds = ports.map((p) => `127.0.0.1:${p}`);
  const procs: ChildProcess[] = [];
  const urls = await Promise.all(
    ports.map(
      (port) =>
        new Promise<string>((resolve, reject) => {
          const proc = spawn(
            process.execPath,
            [
              '--import',
              'tsx',
              new URL(import.meta.url).pathname,
              '--child',
              String(port),
              '--seeds',
              seeds.join(','),
              '--observe',
              observe ? '1' : '0',
            ],
            { stdio: ['pipe', 'pipe', 'inherit'] },
          );
          procs.push(proc);
          const t = setTimeout(() => reject(new Error('replica not ready in 120 s')), 120_000);
          const lines = createInterface({ input: proc.stdout! });
          lines.once('line', (line) => {
            clearTimeout(t);
            resolve((JSON.parse(line) as { metrics?: string }).metrics ?? '');
            lines.on('line', (l) =>
              cpuWaiters.get(proc)?.shift()?.((JSON.parse(l) as { cpuUs: number }).cpuUs),
            );
          });
        }),
    ),
  );
  return { procs, seeds, urls };
}

async function measure(
  observe: boolean,
  seconds: number,
  scrapeMs: number,
): Promise<{ rate: number; cpuPerCallUs: number }> {
  const { procs, seeds, urls } = await startGroup(observe);
  try {
    // A loaded machine can starve a contact past the default 1 s: keep calls going regardless.
    const client = await connect({
      insecure: true,
      group: 'bank',
      seeds,
      connectTimeoutMs: 20_000,
      contactTimeoutMs: 5_000,
      autoReissue: true,
      timeoutMs: 30_000,
    });
    // Until every replica is in one view: the first calls would otherwise measure the joins.
    for (let i = 0; i < 200; i++) await client.invoke('bank', 'deposit', ['w', 1]);
    let done = 0;
    let measuring = true;
    const worker = async () => {
      while (measuring) {
        try {
          await client.invoke('bank', 'deposit', ['a', 1]);
          done++;
        } catch {
          // Not a completed call: not counted.
        }
      }
    };
    const scraper = observe
      ? setInterval(() => {
          for (const u of urls)
            fetch(`${u}/metrics`).then(
              (r) => r.text(),
              () => '',
            );
        }, scrapeMs)
      : undefined;
    const cpu0 = await cpu(procs);
    const t0 = performance.now();
    const workers = Array.from({ length: 64 }, worker);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const rate = done / ((performance.now() - t0) / 1000);
    const calls = done;
    const cpuPerCallUs = ((await cpu(procs)) - cpu0) / calls;
    clearInterval(scraper);
    await Promise.allSettled(workers);
    await client.close();
    return { rate, cpuPerCallUs };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const pairs = Number(flags.pairs);
  const seconds = Number(flags.seconds);
  const scrapeMs = Number(flags['scrape-ms']);
  const off: { rate: number; cpuPerCallUs: number }[] = [];
  const on: { rate: number; cpuPerCallUs: number }[] = [];
  for (let i = 0; i < pairs; i++) {
    off.push(await measure(false, seconds, scrapeMs));
    on.push(await measure(true, seconds, scrapeMs));
    const [a, b] = [off.at(-1)!, on.at(-1)!];
    console.log(
      `pair ${i + 1}: off ${a.rate.toFixed(0)} calls/s ${a.cpuPerCallUs.toFixed(0)} µs CPU/call, on ${b.rate.toFixed(0)} calls/s ${b.cpuPerCallUs.toFixed(0)} µs CPU/call`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rate = median(on.map((x) => x.rate)) / median(off.map((x) => x.rate));
  const cpuRatio = median(on.map((x) => x.cpuPerCallUs)) / median(off.map((x) => x.cpuPerCallUs));
  console.log(`throughput on/off = ${rate.toFixed(3)}; CPU per call on/off = ${cpuRatio.toFixed(3)}`);
}

// Last: the helpers above are initialised by now.
if (flags.child !== undefined) {
  const observer = flags.observe === '1' ? new Observer({ processMetrics: true }) : undefined;
  const transport = await udp({ host: '127.0.0.1', port: Number(flags.child) });
  await joinReplica(new Bank(), 'bank', {
    insecure: true,
    seeds: flags.seeds!.split(','),
    transport,
    validate: validateBankRequest,
    ...(observer ? { observe: observer } : {}),
  });
  const server = observer ? await metricsServer({ observer, port: 0 }) : undefined;
  process.stdout.on('error', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ ready: true, metrics: server?.url })}\n`);
  // Each line on stdin asks for this process's CPU time so far (µs).
  createInterface({ input: process.stdin }).on('line', () => {
    const u = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuUs: u.user + u.system })}\n`);
  });
} else {
  await main();
}
