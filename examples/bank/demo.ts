/**
 * `npm run demo`: three bank replicas, each its own process, on 127.0.0.1 over UDP, and this
 * process as a client that is not a group member.
 *
 * It shows, in order: deposits answered by the first reply; an audit in `all` mode with one
 * reply per replica; a handler-lock call answered by the lock's holder alone; and fail-over:
 * the client's contact replica is SIGKILLed while calls are in flight, the pending calls reject
 * with a `FailoverError` carrying their request id, the client asks a survivor what became of
 * each, reissues each once, and the final balance shows every deposit applied exactly once.
 *
 * Every claim it prints is checked; a failed check prints `FAILED: ...` and exits 1. It stops
 * every process it started, by pid, before it exits.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, FailoverError, type TroupeClient } from 'troupe';
import { type Child, type ChildEvent, ProcessHarness } from 'troupe/testkit';
import { BankClient } from './generated/bank.client.js';

const REPLICA = 'examples/bank/replica.ts';
// Failure detection for a demo on one (possibly busy) machine: a member silent for 1 s is
// failed; the client gives up on a silent contact after 1 s as well (its default).
const LAYERS = { gms: { heartbeatMs: 100, suspectMs: 1_000, bootstrapMs: 200, joinRetryMs: 50 } };
/** Fail-over step: deposits in flight when the contact is killed. */
const BURST = 30;
/** Deposits sent after the kill, one every PACE_MS, before the client has noticed it. */
const AFTER_KILL = 5;
const PACE_MS = 20;

const t0 = performance.now();
const say = (line: string): void => {
  console.log(`[${((performance.now() - t0) / 1000).toFixed(2).padStart(5)}s] ${line}`);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Polls `cond` every 5 ms; bounded by `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(5))
    if (Date.now() > end) throw new CheckFailed(`no ${what} within ${ms} ms`);
}

class CheckFailed extends Error {}
function check(ok: boolean, what: string): void {
  if (!ok) throw new CheckFailed(what);
}

interface Replica {
  name: string;
  child: Child;
  address: string;
  member: string;
}

console.log('troupe demo: a replicated bank, 3 replica processes and a client that is not a member');
const procs = new ProcessHarness();
let client: TroupeClient | undefined;
let exitCode = 0;

// A fresh group key for this run (what `npx troupe keygen` writes to a file): every packet of the
// replicas and of the client is authenticated with it. Children get it in TROUPE_KEY, never argv.
const key = randomBytes(32).toString('hex');

try {
  // 1. Three replica processes form the group.
  const children = await Promise.all(
    [1, 2, 3].map((i) =>
      procs.start(REPLICA, {
        name: `replica-${i}`,
        ready: 'ready',
        readyTimeoutMs: 30_000,
        env: { TROUPE_KEY: key },
      }),
    ),
  );
  const seeds = children.map((c) => c.events.find((e) => e.event === 'ready')!.address as string);
  const joined = await Promise.all(
    children.map((c) => c.request({ cmd: 'join', seeds, layers: LAYERS }, 'joined', 20_000)),
  );
  const replicas: Replica[] = children.map((child, i) => ({
    name: `replica-${i + 1}`,
    child,
    address: seeds[i]!,
    member: joined[i]!.self as string,
  }));
  const nameOf = (member: string) => replicas.find((r) => r.member === member)?.name ?? member;
  const viewOf = (n: number) => (e: ChildEvent) =>
    (e.event === 'view' && (e.members as string[]).length === n) ||
    (e.event === 'joined' && (e.view as { members: string[] }).members.length === n);
  await Promise.all(
    replicas.map((r, i) =>
      (joined[i]!.view as { members: string[] }).members.length === 3
        ? Promise.resolve()
        : r.child.waitFor(viewOf(3), 15_000),
    ),
  );
  for (const r of replicas) say(`${r.name}  pid ${r.child.pid}  ${r.address}  member ${r.member}`);
  say('group "bank" formed: one view of 3 replicas, every packet authenticated with a fresh key');

  // 2. A client that is not a member.
  client = await connect({ group: 'bank', seeds, key: Buffer.from(key, 'hex') });
  const bank = BankClient.connect(client);
  say(
    `client ${client.clientId} (pid ${process.pid}, not a member) contact: ${nameOf(client.contactMember!)}`,
  );

  // 3. Deposits, first reply wins (Electra's transparent mode).
  const deposits: [string, number][] = [
    ['alice', 100],
    ['bob', 50],
    ['alice', 25],
  ];
  const replies: string[] = [];
  for (const [account, amount] of deposits)
    replies.push(`${account} +${amount} → ${await bank.deposit(account, amount)}`);
  say(`deposits (first reply): ${replies.join(', ')}`);
  check(replies.at(-1)!.endsWith('→ 125'), 'alice should hold 125');

  // 4. Audit in `all` mode: every replica of the view answers, and they agree.
  const audit = await bank.audit();
  for (const e of audit.entries)
    say(`  audit from ${nameOf(e.member)}: ${e.status === 'ok' ? JSON.stringify(e.value) : e.status}`);
  const texts = audit.entries.map((e) => (e.status === 'ok' ? JSON.stringify(e.value) : e.status));
  check(audit.entries.length === 3, 'the audit should have 3 replies');
  check(
    texts.every((t) => t === JSON.stringify({ total: 175, accounts: 2 })),
    'all three audits should read {"total":175,"accounts":2}',
  );
  say(`audit (all mode, request ${audit.requestId}): 3 identical replies`);

  // 5. A handler-lock call: only the holder of lock "statements" runs it and answers.
  const statement = await bank.statement('alice');
  const states = await Promise.all(replicas.map((r) => r.child.request({ cmd: 'state' }, 'state')));
  const holders = new Set(states.map((s) => (s.holders as Record<string, string>).statements));
  check(holders.size === 1, `the replicas should agree on the lock holder, not ${[...holders].join(' / ')}`);
  check(
    statement.balance === 125 && statement.entries.length === 2,
    'the statement should show 2 entries, 125',
  );
  say(
    `statement('alice') under handler lock "statements": held by ${nameOf([...holders][0]!)} ` +
      `(all 3 agree), ${statement.entries.length} entries, balance ${statement.balance}`,
  );

  // 6. Fail-over: a burst of deposits to carol, and the contact is SIGKILLed as soon as the
  // first of them is answered, so the rest are caught at every stage: applied with the reply
  // not yet sent, ordered but not yet applied, or not yet read off the contact's socket.
  const contact = replicas.find((r) => r.member === client!.contactMember)!;
  const survivors = replicas.filter((r) => r !== contact);
  say(`fail-over: ${BURST} concurrent deposits of 1 to carol through ${contact.name}...`);
  const calls: Promise<number>[] = [];
  let answered = 0;
  let killed: Promise<unknown> | undefined;
  let answeredAtKill = 0;
  const deposit = () => {
    const p = bank.deposit('carol', 1);
    p.then(
      () => {
        answered++;
        if (killed) return;
        answeredAtKill = answered;
        killed = contact.child.kill('SIGKILL');
      },
      () => {},
    );
    calls.push(p);
  };
  for (let k = 0; k < BURST; k++) deposit();
  await until(() => killed !== undefined, 10_000, 'a first reply');
  await killed;
  say(
    `  SIGKILL ${contact.name} (pid ${contact.child.pid}) on the first reply: ${BURST - answeredAtKill} of ${BURST} calls unanswered`,
  );
  // Calls made before the client notices the failure go to the dead contact, and fail over too.
  for (let k = 0; k < AFTER_KILL; k++) {
    deposit();
    await sleep(PACE_MS);
  }
  const settled = await Promise.allSettled(calls);
  const failed = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  const unexpected = failed.filter((e) => !(e instanceof FailoverError));
  check(unexpected.length === 0, `only FailoverErrors expected, got ${unexpected.map(String).join('; ')}`);
  const failovers = failed as FailoverError[];
  check(failovers.length > 0, 'calls pending at the kill should fail over');
  say(
    `  ${settled.length - failovers.length} answered, ${failovers.length} rejected with FailoverError, e.g.:`,
  );
  say(`    ${failovers[0]!.code}: ${failovers[0]!.message}`);

  // Ask a survivor what became of each interrupted request, then reissue each one once.
  const outcomes = await Promise.all(failovers.map((e) => client!.outcome(e.requestId)));
  check(
    outcomes.every((o) => o.settled),
    'every outcome should be settled',
  );
  const committed = outcomes.filter((o) => o.status === 'committed');
  const notFound = outcomes.filter((o) => o.status === 'not-found');
  check(committed.length + notFound.length === outcomes.length, 'outcomes are committed or not-found');
  const o0 = outcomes[0]!;
  say(
    `  outcome('${o0.requestId}') → ${o0.status}${o0.status === 'committed' ? `, reply ${String(o0.value)}` : ''} ` +
      `(answered by ${nameOf(o0.member)})`,
  );
  say(
    `  outcome(): ${committed.length} committed before the kill (reply lost with the contact), ${notFound.length} not found (never ordered)`,
  );
  const reissued = await Promise.all(failovers.map((e) => client!.reissue(e.requestId) as Promise<number>));
  for (const [i, o] of outcomes.entries())
    if (o.status === 'committed')
      check(reissued[i] === o.value, `reissue of ${o.requestId} should return its recorded reply`);
  say(
    `  reissued all ${failovers.length} by request id: ${committed.length} answered from the outcome table ` +
      `without running again, ${notFound.length} ran now (via ${nameOf(client.contactMember!)})`,
  );
  const again = failovers[0]!.requestId;
  const first = reissued[0];
  const second = await client.reissue(again);
  check(second === first, `a second reissue of ${again} should return ${first}, got ${String(second)}`);
  say(`  reissue('${again}') again → ${String(second)}: the recorded reply, not a second deposit`);

  // 7. Exactly once: carol holds one unit per deposit sent, at every survivor.
  const sent = calls.length;
  const finalAudit = await bank.audit();
  const ok = finalAudit.entries.filter((e) => e.status === 'ok');
  check(ok.length === 2, `2 survivors should answer the final audit, got ${finalAudit.entries.length}`);
  const local = await Promise.all(survivors.map((r) => r.child.request({ cmd: 'state' }, 'state')));
  for (const [i, s] of local.entries()) {
    const carol = (s.app as { balances: Record<string, number> }).balances.carol;
    check(carol === sent, `${survivors[i]!.name} holds carol = ${carol}, expected ${sent}`);
  }
  check(
    ok.every((e) => JSON.stringify(e.value) === JSON.stringify({ total: 175 + sent, accounts: 3 })),
    "the survivors' audits should agree",
  );
  say(
    `final: carol = ${sent} at ${survivors.map((r) => r.name).join(' and ')} for ${sent} deposits sent: each applied exactly once`,
  );
} catch (e) {
  exitCode = 1;
  console.log(
    e instanceof CheckFailed ? `FAILED: ${e.message}` : `FAILED: ${e instanceof Error ? e.stack : String(e)}`,
  );
} finally {
  await client?.close();
  await procs.stopAll();
  const left = procs.children.filter((c) => c.alive);
  if (left.length > 0) {
    exitCode = 1;
    console.log(`FAILED: ${left.length} replica process(es) still running`);
  } else say('stopped every replica process');
}
process.exit(exitCode);
