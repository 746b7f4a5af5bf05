/**
 * The observer's CPU cost per call, in one process: 3 bank replicas over UDP on 127.0.0.1 and a
 * client keeping 64 ordered calls in flight, without and with an Observer + metricsServer per
 * replica (scraped every second), alternating `--pairs` times, `--calls` calls each. CPU time is
 * this process's own (process.cpuUsage), so other load on the machine slows the runs but charges
 * them little CPU; the figure is the ratio of median CPU time per call.
 *
 *   npx tsx bench/observe-cpu.ts [--pairs 3] [--calls 3000]
 */
import { parseArgs } from 'node:util';
import { connect, joinReplica, type MetricsServer, metricsServer, Observer, udp } from 'troupe';
import { Bank } from '../examples/bank/bank.js';
import { validateBankRequest } from '../examples/bank/generated/bank.model.js';

const { values: flags } = parseArgs({
  options: { pairs: { type: 'string', default: '3' }, calls: { type: 'string', default: '3000' } },
});

async function measure(observe: boolean, calls: number): Promise<{ cpuUsPerCall: number; rate: number }> {
  const ts = await Promise.all([0, 1, 2].map(() => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  const observers: Observer[] = [];
  const servers: MetricsServer[] = [];
  const made = await Promise.all(
    ts.map(async (transport) => {
      const observer = observe ? new Observer({ processMetrics: true }) : undefined;
      if (observer) {
        observers.push(observer);
        servers.push(await metricsServer({ observer, port: 0 }));
      }
      return joinReplica(new Bank(), 'bank', {
        insecure: true,
        seeds,
        transport,
        validate: validateBankRequest,
        ...(observer ? { observe: observer } : {}),
      });
    }),
  );
  while (!made.every((m) => m.group.view?.members.length === 3)) await new Promise((r) => setTimeout(r, 20));
  const client = await connect({
    insecure: true,
    group: 'bank',
    seeds,
    contactTimeoutMs: 5_000,
    autoReissue: true,
    timeoutMs: 60_000,
  });
  for (let i = 0; i < 300; i++) await client.invoke('bank', 'deposit', ['w', 1]);
  const scraper = setInterval(() => {
    for (const s of servers)
      fetch(`${s.url}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
  }, 1_000);
  let issued = 0;
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    while (issued < calls) {
      issued++;
      await client.invoke('bank', 'deposit', ['a', 1]).catch(() => {});
      done++;
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(scraper);
  await client.close();
  await Promise.all(servers.map((s) => s.close()));
  for (const o of observers) o.close();
  await Promise.all(made.map((m) => m.group.leave(500).catch(() => {})));
  // The group does not close a transport it was given: without this the process never exits.
  await Promise.all(ts.map((t) => t.close()));
  return { cpuUsPerCall: (cpu.user + cpu.system) / done, rate: done / seconds };
}

const off: number[] = [];
const on: number[] = [];
for (let i = 0; i < Number(flags.pairs); i++) {
  const a = await measure(false, Number(flags.calls));
  const b = await measure(true, Number(flags.calls));
  off.push(a.cpuUsPerCall);
  on.push(b.cpuUsPerCall);
  console.log(
    `pair ${i + 1}: off ${a.cpuUsPerCall.toFixed(0)} µs CPU/call (${a.rate.toFixed(0)} calls/s), on ${b.cpuUsPerCall.toFixed(0)} µs CPU/call (${b.rate.toFixed(0)} calls/s)`,
  );
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(
  `CPU per call on/off = ${(median(on) / median(off)).toFixed(3)} (medians ${median(on).toFixed(0)} / ${median(off).toFixed(0)} µs)`,
);
