/**
 * A/B of one replica in one process: a client keeps 64 ordered calls in flight (`--mode seq`: one)
 * against a single bank replica, without and with an Observer (`--server`: also its
 * metricsServer, scraped every second; `--process-metrics`: prom-client's process metrics),
 * 3 pairs of 2,000 calls. Prints CPU time per call (this process's) and calls per second.
 *
 *   npx tsx bench/observe-ab.ts [--mode par|seq] [--server] [--process-metrics]
 */
import { parseArgs } from 'node:util';
import { connect, joinReplica, metricsServer, Observer } from 'troupe';
import { Bank } from '../examples/bank/bank.js';
import { validateBankRequest } from '../examples/bank/generated/bank.model.js';

const { values: flags } = parseArgs({
  options: {
    mode: { type: 'string', default: 'par' },
    server: { type: 'boolean', default: false },
    'process-metrics': { type: 'boolean', default: false },
  },
});
const N = 2_000;
const out: string[] = [];
for (let pair = 0; pair < 3; pair++)
  for (const on of [false, true]) {
    const observer = on ? new Observer({ processMetrics: flags['process-metrics'] }) : undefined;
    const { group } = await joinReplica(new Bank(), 'bank', {
      insecure: true,
      seeds: [],
      validate: validateBankRequest,
      ...(observer ? { observe: observer } : {}),
    });
    const client = await connect({ insecure: true, group: 'bank', seeds: [group.address] });
    const server = observer && flags.server ? await metricsServer({ observer, port: 0 }) : undefined;
    const scraper = setInterval(() => {
      if (server)
        fetch(`${server.url}/metrics`).then(
          (r) => r.text(),
          () => '',
        );
    }, 1_000);
    for (let i = 0; i < 300; i++) await client.invoke('bank', 'deposit', ['w', 1]);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (flags.mode === 'seq') for (let i = 0; i < N; i++) await client.invoke('bank', 'deposit', ['a', 1]);
    else {
      let k = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (k++ < N) await client.invoke('bank', 'deposit', ['a', 1]);
        }),
      );
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    out.push(
      `${on ? 'on ' : 'off'} ${((cpu.user + cpu.system) / N).toFixed(0)} µs/call ${(N / seconds).toFixed(0)} calls/s`,
    );
    clearInterval(scraper);
    await server?.close();
    await client.close();
    await group.leave(300);
    observer?.close();
  }
console.log(
  `${flags.mode}${flags.server ? ' +server' : ''}${flags['process-metrics'] ? ' +process-metrics' : ''}: ${out.join(' | ')}`,
);
