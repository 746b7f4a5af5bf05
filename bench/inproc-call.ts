// CPU of one ordered call with every role in ONE process over real UDP loopback: 3 replicas of
// the bank example and 1 client, `first` reply, majority resilience (the defaults), so the CPU
// time of the process (user + system, `process.cpuUsage`) divided by the calls is what one call
// costs all four roles together: every datagram's encoding, every member's decoding, ordering,
// acknowledgement and apply. Wall time on a loaded machine says little; this figure much more.
//
//   npx tsx bench/inproc-call.ts [--calls 2000] [--outstanding 1] [--keyed] [--rounds 3] [--mode first|all]
//
// `--outstanding N` keeps N calls in flight (N workers, each awaiting its call before the next).
// `--keyed` gives the group and the client a key (HMAC on every packet). `--observe` gives every
// replica an Observer (`--traces N`: its trace ring's size; 0 keeps no traces, and a ring of 256 still
// times requests for the histograms). Prints one JSON line
// per round; docs/performance.md ("One call alone") quotes it. Under `node --expose-gc` each
// line also has the heap after a full collection (`heapMB`) and the RSS: over many rounds, whether
// memory stays flat under load (docs/performance.md, "Memory under load").
import { memoryUsage } from 'node:process';
import { parseArgs } from 'node:util';
import { connect, joinReplica, Observer } from 'troupe';
import { udp } from 'troupe/group';
import { Bank } from '../examples/bank/bank.js';
import { BankClient } from '../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../examples/bank/generated/bank.model.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    outstanding: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    keyed: { type: 'boolean', default: false },
    observe: { type: 'boolean', default: false },
    traces: { type: 'string' },
    mode: { type: 'string', default: 'first' },
  },
});
const CALLS = Number(values.calls);
const OUTSTANDING = Number(values.outstanding);
const ROUNDS = Number(values.rounds);
// `all`: every replica of the view replies (`bank.all.deposit`), as the bench's `all` entries call.
const ALL = values.mode === 'all';
if (!ALL && values.mode !== 'first') throw new Error(`--mode is first or all, not ${values.mode}`);
const secret = values.keyed
  ? { key: 'inproc-call bench group key, at least 32 bytes long' }
  : { insecure: true as const };

const ts = await Promise.all(Array.from({ length: 3 }, () => udp({ host: '127.0.0.1' })));
const seeds = ts.map((t) => t.address);
const made = await Promise.all(
  ts.map((transport) =>
    joinReplica(new Bank(100), 'bank', {
      seeds,
      transport,
      layers: { gms: { bootstrapMs: 200, joinRetryMs: 50 } },
      validate: validateBankRequest,
      ...secret,
      ...(values.observe
        ? { observe: new Observer(values.traces === undefined ? {} : { traces: Number(values.traces) }) }
        : {}),
    }),
  ),
);
const deadline = Date.now() + 30_000;
while (!made.every((m) => m.group.view?.members.length === 3)) {
  if (Date.now() > deadline) throw new Error('the 3 replicas did not form one view in 30 s');
  await new Promise((r) => setTimeout(r, 50));
}
const client = await connect({ group: 'bank', seeds, ...secret });
const bank = BankClient.connect(client);

/** Datagrams the replicas' transports handed to the kernel (the client's are its requests). */
const sentSoFar = (): number => ts.reduce((n, t) => n + t.stats().sent, 0);

async function run(calls: number): Promise<number[]> {
  const lat: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      const i = next++;
      const s = performance.now();
      if (ALL) await bank.all.deposit(`a${i % 16}`, 1);
      else await bank.deposit(`a${i % 16}`, 1);
      lat.push((performance.now() - s) * 1000);
    }
  };
  await Promise.all(Array.from({ length: OUTSTANDING }, worker));
  return lat;
}

/** The heap after a full collection and the RSS, in MB, if the process may force a collection. */
function heap(): { heapMB?: number; buffersMB?: number; rssMB?: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return {};
  gc();
  const m = memoryUsage();
  const mb = (b: number) => Math.round(b / 1e5) / 10;
  return { heapMB: mb(m.heapUsed), buffersMB: mb(m.arrayBuffers), rssMB: mb(m.rss) };
}

await run(300); // warm-up: JIT, replay windows, handshakes
for (let r = 0; r < ROUNDS; r++) {
  const sent0 = sentSoFar();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const lat = await run(CALLS);
  const wall = (performance.now() - w0) * 1000;
  const c = process.cpuUsage(c0);
  lat.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      calls: CALLS,
      outstanding: OUTSTANDING,
      keyed: values.keyed,
      mode: values.mode,
      datagramsPerCall: Math.round((10 * (sentSoFar() - sent0)) / CALLS) / 10,
      p50Us: Math.round(lat[lat.length >> 1]!),
      wallPerCallUs: Math.round(wall / CALLS),
      cpuPerCallUs: Math.round((c.user + c.system) / CALLS),
      userPerCallUs: Math.round(c.user / CALLS),
      sysPerCallUs: Math.round(c.system / CALLS),
      ...heap(),
    }),
  );
}
await client.close();
await Promise.all(made.map((m) => m.group.leave(300).catch(() => {})));
process.exit(0);
