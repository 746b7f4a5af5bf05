/**
 * The observer's costs, apart: CPU per request lifecycle at one replica (the events a contact
 * reports for one ordered call: received, cast, ordered, applying, outcome, replied, plus its own
 * cast coming back), and CPU per scrape of a replica's /metrics (every stats() counter, the
 * histograms, prom-client's process metrics). Both in one process, timed over many repetitions.
 * Together with a call rate they give the share of CPU observation costs.
 *
 *   npx tsx bench/observe-micro.ts
 */

import { type Group, joinReplica, Observer } from 'troupe';
import { Bank } from '../examples/bank/bank.js';
import { validateBankRequest } from '../examples/bank/generated/bank.model.js';

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

// 1. One lifecycle at the contact, with tracing on (the default ring of 1024).
const observer = new Observer();
const fakeGroup = {
  self: 'aaaaaaaa.1',
  groupName: 'bank',
  view: { id: 1, members: ['aaaaaaaa.1'], addresses: [] },
} as unknown as Group;
const N = 200_000;
const payloads = Array.from({ length: 1024 }, () => new Uint8Array(8));
const lifecycle = (i: number) => {
  const id = `client:${i}`;
  const payload = payloads[i % payloads.length]!;
  observer.event({ type: 'request', step: 'received', id, peer: '127.0.0.1:1' });
  observer.event({ type: 'request', step: 'cast', id });
  observer.event({ type: 'cast', payload, qos: { order: 'total' } });
  observer.event({
    type: 'app',
    group: fakeGroup,
    event: {
      type: 'deliver',
      delivery: { payload, sender: 'aaaaaaaa.1', qos: { order: 'total' }, viewId: 1, gseq: i, p2p: false },
    },
  });
  observer.event({ type: 'request', step: 'ordered', id, viewId: 1, gseq: i, peer: 'aaaaaaaa.1' });
  observer.event({ type: 'request', step: 'applying', id, method: 'deposit' });
  observer.event({ type: 'request', step: 'outcome', id, viewId: 1, status: 'committed', ok: true });
  observer.event({ type: 'request', step: 'replied', id, peer: '127.0.0.1:1' });
};
for (let i = 0; i < 20_000; i++) lifecycle(i); // warm-up
let t = cpuUs();
for (let i = 0; i < N; i++) lifecycle(20_000 + i);
const perCall = (cpuUs() - t) / N;
console.log(`observer events of one ordered call at its contact: ${perCall.toFixed(2)} µs CPU (${N} calls)`);

// 2. One scrape of a real replica's metrics.
const scraped = new Observer({ processMetrics: true });
const { group } = await joinReplica(new Bank(), 'bank', {
  insecure: true,
  seeds: [],
  validate: validateBankRequest,
  observe: scraped,
});
for (let i = 0; i < 20; i++) await scraped.registry.metrics();
const S = 300;
t = cpuUs();
let bytes = 0;
for (let i = 0; i < S; i++) bytes += (await scraped.registry.metrics()).length;
const perScrape = (cpuUs() - t) / S;
console.log(
  `one /metrics scrape (registry.metrics(), ${Math.round(bytes / S)} bytes): ${(perScrape / 1000).toFixed(2)} ms CPU (${S} scrapes)`,
);
await group.leave(500);
scraped.close();
observer.close();
