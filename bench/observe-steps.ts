/**
 * The observer's CPU per call across a group of three, as the runtime reports steps: each member
 * an Observer taking request steps as arguments (`TAKES_STEPS`, as the sink hands them while no
 * diagnostics channel listens), calls in batches of `--batch` that each member handles in a turn
 * of its own (the contact's received and cast; at each member ordered, then applying and outcome
 * per request, and replied at the contact), every id a string of its own per member (decoded
 * afresh), and `--garbage` bytes of short-lived objects per call kept while 64 calls are in
 * flight, as the call path allocates them (session 37: ~20 KB per call). The same loop without
 * the observers' steps is timed alternately; the difference is the observers' cost with the
 * collector and the caches as busy as the call path keeps them.
 *
 *   npx tsx bench/observe-steps.ts [--calls 100000] [--rounds 5] [--batch 16] [--garbage 20000]
 *
 * `OLD_IDS=1` hands the observers ids from a table (strings already old, shared by both loops)
 * instead of fresh ones: what an observer costs when the ids it keeps are not young garbage.
 *
 * In one process, with no I/O: much steadier than `inproc-call` on a shared machine, and blind to
 * anything the runtime does for an observer other than the steps (docs/performance.md, session 43).
 */
import { parseArgs } from 'node:util';
import { Observer } from 'troupe';
import type { Group } from 'troupe/group';

/**
 * The runtime's `StepTaker` (runtime/observe/events.ts): an Observer keeps one under a symbol
 * (`TAKES_STEPS`), which bench/ reaches by its description, using only the public entry points.
 */
type StepTaker = (
  step: 'received' | 'cast' | 'ordered' | 'applying' | 'outcome' | 'replied',
  id: string,
  viewId: number | undefined,
  gseq: number | undefined,
  peer: string | undefined,
  method: string | undefined,
  status: 'committed' | 'interrupted' | undefined,
  ok: boolean | undefined,
) => void;
function stepTaker(o: Observer): StepTaker {
  const key = Object.getOwnPropertySymbols(o).find((s) => s.description === 'troupe.takesSteps');
  const taker = key && (o as unknown as Record<symbol, StepTaker | undefined>)[key];
  if (!taker) throw new Error('this Observer takes no request steps as arguments');
  return taker;
}

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '16' },
    garbage: { type: 'string', default: '20000' },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const B = Number(values.batch);
const GARBAGE = Number(values.garbage);

const members = ['aaaaaaaa.1', 'bbbbbbbb.1', 'cccccccc.1'];
const takers: StepTaker[] = members.map((self) => {
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
  return stepTaker(o);
});
const none: StepTaker = () => {};

/** A fresh string with `id`'s characters, as a decoder makes one. */
const decoded =
  process.env.OLD_IDS === '1' ? (id: string) => oldIds(id) : (id: string) => (id + ' ').slice(0, -1);
const table = new Map<string, string>();
function oldIds(id: string): string {
  let s = table.get(id);
  if (s === undefined) {
    if (table.size > 200_000) table.clear();
    s = (id + ' ').slice(0, -1);
    table.set(id, s);
  }
  return s;
}
const PREFIX = '0123456789abcdef0123';
const peer = decoded('udp:127.0.0.1:40000');

// Garbage per call: objects of ~100 bytes, a ring of 64 calls' worth kept alive.
const perCall = Math.max(0, Math.round(GARBAGE / 100));
const kept: unknown[][] = Array.from({ length: 64 }, () => []);
let sink = 0;
function churn(call: number): void {
  const list: unknown[] = [];
  for (let i = 0; i < perCall; i++) list.push({ a: call, b: i, c: [call, i], d: undefined as unknown });
  kept[call & 63] = list;
  sink += list.length;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

async function run(from: number, calls: number, steps: StepTaker[]): Promise<void> {
  const [contact] = steps as [StepTaker];
  const ids: string[] = new Array(B);
  for (let i = from; i < from + calls; i += B) {
    for (let k = 0; k < B; k++) {
      const id = decoded(`${PREFIX}:${i + k}`);
      churn(i + k);
      contact('received', id, undefined, undefined, peer, undefined, undefined, undefined);
      contact('cast', id, undefined, undefined, undefined, undefined, undefined, undefined);
    }
    await turn();
    for (const step of steps) {
      for (let k = 0; k < B; k++) ids[k] = decoded(`${PREFIX}:${i + k}`);
      for (let k = 0; k < B; k++)
        step('ordered', ids[k]!, 1, i + k, members[0], undefined, undefined, undefined);
      for (let k = 0; k < B; k++) {
        const id = ids[k]!;
        step('applying', id, undefined, undefined, undefined, 'deposit', undefined, undefined);
        step('outcome', id, 1, undefined, undefined, undefined, 'committed', true);
        if (step === contact)
          step('replied', id, undefined, undefined, peer, undefined, undefined, undefined);
      }
      await turn();
    }
  }
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

let next = 1;
async function timed(steps: StepTaker[]): Promise<number> {
  const t = cpuUs();
  await run(next, CALLS, steps);
  next += CALLS;
  return (cpuUs() - t) / CALLS;
}

await run(next, 20_000, takers); // warm-up
next += 20_000;
await run(next, 20_000, [none, none, none]);
next += 20_000;
const diffs: number[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  const off = await timed([none, none, none]);
  const on = await timed(takers);
  diffs.push(on - off);
  console.log(
    JSON.stringify({
      round: r,
      offUs: +off.toFixed(3),
      onUs: +on.toFixed(3),
      observerUs: +(on - off).toFixed(3),
    }),
  );
}
diffs.sort((a, b) => a - b);
console.log(
  `observer steps of one call over a group of three (batches of ${B}, ${GARBAGE} B garbage per call): median ${diffs[diffs.length >> 1]!.toFixed(3)} µs CPU per call (${ROUNDS} rounds of ${CALLS}, ${sink} objects)`,
);
