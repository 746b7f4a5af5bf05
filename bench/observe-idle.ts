/**
 * The fixed cost of observability: CPU per second of an idle group of 3 replica processes
 * (bench/children/observed-replica.ts), in windows alternating off and on (`--windows`, default
 * 4, `--ms` each, default 5000). In "on" windows every replica's Observer and metricsServer are
 * on and each `/metrics` is scraped every `--scrape-ms` (default 1000; 0: not scraped). Prints
 * CPU ms per second per replica (user + system, /proc). Divide by a call rate to get what it
 * adds per call: at the few dozen calls per second a starved machine manages, a fixed cost of
 * tens of ms per second is most of a call's CPU; at thousands per second it is noise.
 *
 *   npx tsx bench/observe-idle.ts [--windows 4] [--ms 5000] [--scrape-ms 1000]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Child, ProcessHarness } from 'troupe/testkit';

const { values: flags } = parseArgs({
  options: {
    windows: { type: 'string', default: '4' },
    ms: { type: 'string', default: '5000' },
    'scrape-ms': { type: 'string', default: '1000' },
  },
});

/** User + system CPU of `pid` so far, in ms (Linux /proc, USER_HZ 100). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const procs = new ProcessHarness();
try {
  const replicas: Child[] = await Promise.all(
    [1, 2, 3].map((i) =>
      procs.start('bench/children/observed-replica.ts', {
        name: `replica-${i}`,
        ready: 'ready',
        readyTimeoutMs: 60_000,
      }),
    ),
  );
  const seeds = replicas.map((r) => r.events.find((e) => e.event === 'ready')!.address as string);
  await Promise.all(replicas.map((r) => r.request({ cmd: 'join', seeds }, 'joined', 30_000)));
  await sleep(3_000); // past the joins and the first flushes
  const scrapeMs = Number(flags['scrape-ms']);
  for (let k = 0; k < Number(flags.windows); k++) {
    const on = k % 2 === 1;
    const answers = await Promise.all(
      replicas.map((r) =>
        r.request({ cmd: 'observe', on }, (e) => e.event === 'observing' && e.on === on, 20_000),
      ),
    );
    const urls = on && scrapeMs > 0 ? answers.map((a) => a.url as string) : [];
    await sleep(1_000);
    const c0 = replicas.reduce((a, r) => a + cpuMs(r.pid), 0);
    const t0 = performance.now();
    const scraper =
      urls.length > 0
        ? setInterval(() => {
            for (const u of urls)
              fetch(`${u}/metrics`).then(
                (x) => x.text(),
                () => '',
              );
          }, scrapeMs)
        : undefined;
    await sleep(Number(flags.ms));
    clearInterval(scraper);
    const perSecond =
      (replicas.reduce((a, r) => a + cpuMs(r.pid), 0) - c0) / ((performance.now() - t0) / 1000);
    console.log(
      `${on ? 'on ' : 'off'}: ${(perSecond / replicas.length).toFixed(1)} ms CPU per second per replica`,
    );
  }
} finally {
  await procs.stopAll();
}
