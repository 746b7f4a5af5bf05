// The package check's own client (src/check-client.ts there, compiled with the README's tsconfig),
// beyond the README's: every method kind through the generated stub, then fail-over.
// argv: seeds (comma-separated), {member: pid} of the replicas as JSON. Prints one JSON line.
import { readFileSync } from 'node:fs';
import { connect, FailoverError, parseKey } from 'troupe/client';
import { KvClient } from './generated/kv.client.js';

const [seeds = '', pidsJson = '{}'] = process.argv.slice(2);
const pids = JSON.parse(pidsJson) as Record<string, number>;
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

const key = parseKey(readFileSync('troupe.key', 'utf8'), 'troupe.key');
const client = await connect({ group: 'kv', seeds: seeds.split(','), key });
const kv = KvClient.connect(client);
check((await kv.put('a', '1')) === 1, 'an ordered call returns the first reply');
check((await kv.get('a')) === '1', 'a query reads it');
check((await kv.get('missing')) === undefined, 'an absent optional result arrives as undefined');
const size = await kv.size();
check(
  size.entries.length === 3 && size.entries.every((e) => e.status === 'ok' && e.value === 1),
  'reply all: 3 replies',
);
const put = await kv.all.put('b', '2');
check(put.entries.filter((e) => e.status === 'ok').length === 3, 'the .all view: 3 replies');
check((await kv.report()) === 'a,b', 'a handler-lock call');

// Fail-over: SIGKILL the contact in the middle of a burst; recover with outcome/reissue. The first
// half goes out while the contact runs (some commit, their replies may die with it); the contact
// is then stopped, so the second half is surely pending at the kill, however fast the first was.
const contact = client.contactMember ?? '';
check(pids[contact] !== undefined, `the contact ${contact} is a replica we started`);
const putK = (i: number) => kv.put(`k${i}`, String(i));
const burst = Array.from({ length: 15 }, (_, i) => putK(i));
await Promise.race(burst.map((p) => p.catch(() => undefined)));
process.kill(pids[contact]!, 'SIGSTOP');
for (let i = 15; i < 30; i++) burst.push(putK(i));
await new Promise((r) => setTimeout(r, 50));
process.kill(pids[contact]!, 'SIGKILL');
const settled = await Promise.allSettled(burst);
const failed = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
check(
  failed.every((e) => e instanceof FailoverError),
  `only FailoverErrors: ${failed.find((e) => !(e instanceof FailoverError))}`,
);
check(failed.length > 0, 'some calls were pending when the contact died');
const outcomes: Record<string, number> = {};
for (const e of failed as FailoverError[]) {
  const o = await client.outcome(e.requestId);
  outcomes[o.status] = (outcomes[o.status] ?? 0) + 1;
  await client.reissue(e.requestId);
}
const after = await kv.size();
const ok = after.entries.filter((e) => e.status === 'ok');
check(
  ok.length === 2 && ok.every((e) => e.value === 32),
  `every put applied once at both survivors: ${JSON.stringify(after.entries)}`,
);
console.log(JSON.stringify({ contact, failedOver: failed.length, outcomes, size: 32 }));
await client.close();
