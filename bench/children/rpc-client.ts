// The client of the `rpc: ordered call` entries: a troupe RPC client that is not a group member, in
// its own process, calling `bank.deposit` (an ordered method) on the bank replicas.
//
// Commands:
//   {cmd:'run', seeds, group?, mode, outstanding, count, seconds, warmup, warmupSeconds, timeoutMs}
//     connects to `group` (default 'bank') through `seeds`, then keeps `outstanding` deposits in flight (`mode`
//     'first': the first reply completes a call; 'all': every member of the ordering view must
//     answer) until `warmup` calls settled or `warmupSeconds` passed, then measures until `count` more completed or
//     `seconds` passed; stops issuing, lets the calls in flight settle (each is bounded by
//     `timeoutMs`), and reports {event:'result', ops, seconds, latencyUs, errors, incomplete,
//     warmupErrors, viewSize, stats}:
//       ops         calls completed without error inside the measured window
//       latencyUs   their round trips (invoke → promise settled), summarised
//       errors      calls that rejected inside the window, by error code (or name)
//       incomplete  'all' calls that resolved with a member's entry not 'ok' (timeout/failed/error)
//       stats       the client's counters (retransmits, failovers, ...) for the whole run
//       measuredRetransmits  retransmits inside the measured window (warm-up excluded)
import { performance } from 'node:perf_hooks';
import { connect, parseKey } from 'troupe';
import { emit, onCommands } from 'troupe/testkit';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { summarize } from '../lib/stats.js';

interface Run {
  seeds: string[];
  /** The group to call (default 'bank'; the `observe:` entries alternate two). */
  group?: string;
  mode: 'first' | 'all';
  outstanding: number;
  count: number;
  seconds: number;
  warmup: number;
  warmupSeconds: number;
  timeoutMs: number;
  /** The group key (hex, as the replicas' `TROUPE_KEY`); without one the client connects insecure. */
  key?: string;
}

function errorKey(e: unknown): string {
  if (e && typeof e === 'object') {
    const { code, name } = e as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code) return code;
    if (typeof name === 'string' && name) return name;
  }
  return 'unknown';
}

async function run(cmd: Run): Promise<void> {
  const client = await connect({
    group: cmd.group ?? 'bank',
    seeds: cmd.seeds,
    timeoutMs: cmd.timeoutMs,
    ...(typeof cmd.key === 'string' ? { key: parseKey(cmd.key, 'key') } : { insecure: true }),
  });
  const bank = BankClient.connect(client);
  const samples = new Float64Array(cmd.count);
  const errors: Record<string, number> = {};
  let warmupErrors = 0;
  let incomplete = 0;
  let settled = 0; // calls settled (ok or not), warm-up included
  let ops = 0; // measured calls that succeeded
  let t0 = 0;
  let tEnd = 0;
  let deadline = Number.POSITIVE_INFINITY;
  let measuring = false;
  let stopped = false;
  let seq = 0;
  let windowTimer: NodeJS.Timeout | undefined;
  let retransmitsAtStart = 0;
  let retransmitsAtEnd = 0;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    tEnd = performance.now();
    retransmitsAtEnd = client.stats().retransmits;
  };

  const one = async (): Promise<void> => {
    // A handful of accounts, so that no single account's history grows long.
    const account = `acct-${seq++ % 16}`;
    const start = performance.now();
    let ok = true;
    let partial = false;
    let err: unknown;
    try {
      if (cmd.mode === 'all') {
        const r = await bank.all.deposit(account, 1);
        partial = r.entries.some((e) => e.status !== 'ok');
      } else await bank.deposit(account, 1);
    } catch (e) {
      ok = false;
      err = e;
    }
    const now = performance.now();
    settled++;
    if (stopped) return; // settled after the window closed: not measured
    if (measuring) {
      if (ok) {
        samples[ops++] = (now - start) * 1000;
        if (partial) incomplete++;
      } else errors[errorKey(err)] = (errors[errorKey(err)] ?? 0) + 1;
      if (ops >= cmd.count || now >= deadline) stop();
    } else {
      if (!ok) warmupErrors++;
      if (settled >= cmd.warmup || now - runStart >= cmd.warmupSeconds * 1000) {
        measuring = true;
        t0 = now;
        // The entry samples the replicas' memory here and at the end (RSS flat under load).
        emit('measuring', {});
        retransmitsAtStart = client.stats().retransmits;
        deadline = now + cmd.seconds * 1000;
        // Closes the window on time even when no call settles (calls stuck until their timeout).
        windowTimer = setTimeout(stop, cmd.seconds * 1000);
      }
    }
  };
  // `outstanding` workers, each with one call in flight at a time. A hard stop on top of the
  // time limit, in case calls stop settling altogether (every call is bounded by timeoutMs).
  const hardStop = setTimeout(stop, (cmd.warmupSeconds + cmd.seconds + 10) * 1000 + cmd.timeoutMs);
  const runStart = performance.now();
  const worker = async (): Promise<void> => {
    while (!stopped) await one();
  };
  await Promise.all(Array.from({ length: cmd.outstanding }, worker));
  clearTimeout(hardStop);
  clearTimeout(windowTimer);
  const viewSize = client.view?.members.length ?? 0;
  // Which member the client talked to, and the view's first member (the sequencer): a lone
  // call's path, and its datagrams, depend on whether they are the same (docs/performance.md).
  const contact = client.contactMember;
  const sequencer = client.view?.members[0];
  const stats = client.stats();
  await client.close();
  emit('result', {
    ops,
    seconds: measuring ? (tEnd - t0) / 1000 : 0,
    latencyUs: summarize(samples.subarray(0, ops)),
    errors,
    incomplete,
    warmupErrors,
    viewSize,
    contact,
    sequencer,
    stats,
    measuredRetransmits: measuring ? retransmitsAtEnd - retransmitsAtStart : 0,
  });
}

onCommands(async (cmd) => {
  if (cmd.cmd === 'run') await run(cmd as unknown as Run);
});
emit('ready');
