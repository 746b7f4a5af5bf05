// A bank replica process for the `observe:` entries and bench/observe-idle.ts. Two modes:
//
// `--paired` (the `observe:` entries): the process hosts two replicas, one of group `bank` with no
// Observer (what a replica without observability runs: `CoreSink.wants` answers false, no event
// object is built) and one of group `bank-observed` given an Observer directly (the step-taking
// path `joinReplica({ observe: observer })` takes). The entry's client calls one group per round,
// so "off" and "on" rounds interleave in the same processes, as users run each side; the idle
// group costs both sides the same heartbeats. `{cmd:'observe', on}` opens or closes the
// observed replica's metricsServer (with peer polling, as `troupe serve --metrics-port` does).
//
// Without it (observe-idle): one replica of `bank` whose events go through a sink that forwards
// them to the Observer only while switched on: "off" still builds each event and stops at one
// `if`; fine for an idle group, not for calls (the `observe:` entries used to measure this way and
// so measured neither side as users run it: docs/performance.md, "Observer cost").
// The events that tell the observer which group and replica it watches always reach it.
//
// Commands: {cmd:'join', seeds, observedSeeds?} → {event:'joined', view}; {cmd:'observe', on} →
// {event:'observing', url}. Prints {event:'ready', address, observedAddress?, pid} first.
// Insecure, as the bench client connects.
//
// With TROUPE_BENCH_CPU_PROF=<dir> each round (from one `observe` command to the next) is
// profiled apart, into <dir>/observed-<pid>-<n>-<on|off>.cpuprofile, so the two sides can be
// compared (`npx tsx bench/cpu-profile.ts <file>`); a whole-process profile mixes them.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import {
  createLogger,
  joinReplica,
  type MetricsServer,
  metricsServer,
  Observer,
  type ObserveSink,
  udp,
} from 'troupe';
import { emit, onCommands } from 'troupe/testkit';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';

const observer = new Observer({
  logger: createLogger({ level: 'info', base: { group: 'bank' } }),
  // TROUPE_BENCH_OBSERVE_TRACES: the trace ring's size (0: no traces kept; a ring of 256 still
  // times requests for the histograms).
  ...(process.env.TROUPE_BENCH_OBSERVE_TRACES
    ? { traces: Number(process.env.TROUPE_BENCH_OBSERVE_TRACES) }
    : {}),
  // TROUPE_BENCH_OBSERVE_CHECK_EVERY: requests between divergence checks (0: none), to measure
  // what the periodic digest costs apart from the events and the endpoint.
  ...(process.env.TROUPE_BENCH_OBSERVE_CHECK_EVERY
    ? { divergence: { checkEvery: Number(process.env.TROUPE_BENCH_OBSERVE_CHECK_EVERY) } }
    : {}),
});
let on = false;
let server: MetricsServer | undefined;
const sink: ObserveSink = {
  event: (e) => {
    if (on || e.type === 'member' || e.type === 'replica') observer.event(e);
  },
  answer: (method, args) => observer.answer(method, args),
};

const PROFILE_DIR = process.env.TROUPE_BENCH_CPU_PROF;
const profiler = PROFILE_DIR ? new Session() : undefined;
let profiled = 0;
/** Ends the running round's profile (if any) and starts the next one's. */
async function profileRound(): Promise<void> {
  if (!profiler) return;
  if (profiled === 0) {
    profiler.connect();
    await profiler.post('Profiler.enable');
  } else {
    const { profile } = await profiler.post('Profiler.stop');
    const last = on ? 'on' : 'off';
    writeFileSync(
      `${PROFILE_DIR}/observed-${process.pid}-${profiled}-${last}.cpuprofile`,
      JSON.stringify(profile),
    );
  }
  profiled++;
  await profiler.post('Profiler.start');
}

const paired = process.argv.includes('--paired');
const transport = await udp({ host: '127.0.0.1' });
const observedTransport = paired ? await udp({ host: '127.0.0.1' }) : undefined;
emit('ready', { address: transport.address, observedAddress: observedTransport?.address, pid: process.pid });

async function join(
  group: string,
  seeds: string[],
  t: typeof transport,
  observe: ObserveSink | undefined,
): Promise<{ members: string[] } | undefined> {
  const { group: g } = await joinReplica(new Bank(100), group, {
    insecure: true,
    seeds,
    transport: t,
    validate: validateBankRequest,
    ...(observe ? { observe } : {}),
    layers: { gms: { bootstrapMs: 200, joinRetryMs: 50 } },
  });
  g.on('view', (v) => emit('view', { group, members: [...v.view.members] }));
  return g.view && { members: [...g.view.members] };
}

onCommands(async (cmd) => {
  if (cmd.cmd === 'join') {
    const seeds = cmd.seeds as string[];
    if (observedTransport) {
      const [view, observedView] = await Promise.all([
        join('bank', seeds, transport, undefined),
        join('bank-observed', cmd.observedSeeds as string[], observedTransport, observer),
      ]);
      emit('joined', { view, observedView });
    } else emit('joined', { view: await join('bank', seeds, transport, sink) });
  } else if (cmd.cmd === 'observe') {
    await profileRound();
    on = cmd.on === true;
    if (on) server ??= await metricsServer({ observer, port: 0, peers: {} });
    else {
      await server?.close();
      server = undefined;
    }
    emit('observing', { on, url: server?.url });
  }
});
