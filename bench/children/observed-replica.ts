// A bank replica whose observability is switched on and off between the rounds of the `observe:`
// entries, so "on" and "off" rounds interleave on one group (no group formed per round).
//
// "off" is what a replica without an Observer pays: every runtime event still goes through the
// sink (`sinkFor` publishes to diagnostics_channel either way) and stops at one `if`. "on" passes
// each event to an Observer logging at info (the launcher's default) and opens its metricsServer
// with peer polling, as `troupe serve --metrics-port` does; the next "off" closes it again. The
// events that tell the observer which group and replica it watches always reach it.
//
// Commands: {cmd:'join', seeds} → {event:'joined', view}; {cmd:'observe', on} → {event:'observing',
// url}. Prints {event:'ready', address, pid} first. Insecure, as the bench client connects.
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

const transport = await udp({ host: '127.0.0.1' });
emit('ready', { address: transport.address, pid: process.pid });
onCommands(async (cmd) => {
  if (cmd.cmd === 'join') {
    const { group } = await joinReplica(new Bank(100), 'bank', {
      insecure: true,
      seeds: cmd.seeds as string[],
      transport,
      validate: validateBankRequest,
      observe: sink,
      layers: { gms: { bootstrapMs: 200, joinRetryMs: 50 } },
    });
    group.on('view', (v) => emit('view', { members: [...v.view.members] }));
    emit('joined', { view: group.view && { members: [...group.view.members] } });
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
