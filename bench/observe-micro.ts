/**
 * The observer's costs, apart: CPU per request lifecycle at one replica (the events a contact
 * reports for one ordered call: received, cast, ordered, applying, outcome, replied, plus its own
 * cast coming back), the same across a group of three (one Observer each), and CPU per scrape
 * of a replica's /metrics (every stats() counter, the histograms, prom-client's process
 * metrics). All in one process, timed over many repetitions.
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

// 1b. One call's request events across a group of three, each member with its own Observer and
// the member events that tell it who it is: the contact's six steps, and ordered, applying,
// outcome at the two others. Calls come in batches of 16 (a batch is ordered, then applied, as
// under load), and each member's id is a string of its own, as each decodes the order's message
// afresh (the contact's first from the client's packet).
const B = 16;
const members = ['aaaaaaaa.1', 'bbbbbbbb.1', 'cccccccc.1'];
const group3 = members.map((self) => {
  const o = new Observer();
  o.event({
    type: 'member',
    group: {
      self,
      groupName: 'bank',
      view: { id: 1, members, addresses: [] },
      stats: () => ({}),
      // The coordinator's periodic divergence checks cast into nowhere.
      cast: () => {},
    } as unknown as Group,
  });
  return o;
});
const decoded = (id: string) => (id + ' ').slice(0, -1);
const groupCalls = (from: number, calls: number) => {
  for (let i = from; i < from + calls; i += B) {
    const contact = group3[0]!;
    for (let k = i; k < i + B; k++) {
      const id = decoded(`0123456789abcdef:${k}`);
      contact.event({ type: 'request', step: 'received', id, peer: '127.0.0.1:1' });
      contact.event({ type: 'request', step: 'cast', id });
    }
    for (const o of group3) {
      const ids = Array.from({ length: B }, (_, k) => decoded(`0123456789abcdef:${i + k}`));
      for (let k = 0; k < B; k++)
        o.event({ type: 'request', step: 'ordered', id: ids[k]!, viewId: 1, gseq: i + k, peer: members[0] });
      for (const id of ids) {
        o.event({ type: 'request', step: 'applying', id, method: 'deposit' });
        o.event({ type: 'request', step: 'outcome', id, viewId: 1, status: 'committed', ok: true });
        if (o === contact) o.event({ type: 'request', step: 'replied', id, peer: '127.0.0.1:1' });
      }
    }
  }
};
groupCalls(1, 20_000); // warm-up
t = cpuUs();
groupCalls(20_001, N);
console.log(
  `observer events of one ordered call at a group of three (contact and two others, batches of ${B}): ${((cpuUs() - t) / N).toFixed(2)} µs CPU (${N} calls)`,
);

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
