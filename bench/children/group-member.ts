// One member of the `group: total-order casts` entries: a troupe group member over UDP on 127.0.0.1
// in its own process. It binds port 0 first and prints {event:'ready', address}; the parent sends
// the seed list once it knows every member's address.
//
// Commands:
//   {cmd:'join', group, seeds, layers, key?, encrypt?, stateBytes?, holdState?}
//                                           -> {event:'joined', self, restoredBytes}, then
//                                              {event:'view', members} for every view installed;
//                                              with stateBytes, the member's state is that many
//                                              bytes (a joiner receives it by state transfer);
//                                              holdState: the state is in memory before the join
//                                              (a founder's), not made when a snapshot is asked
//   {cmd:'run', size, count, seconds, window, burst}
//                                           -> casts totally ordered `size`-byte messages: at most
//                                              `burst` per event-loop turn and at most `window` of
//                                              its own not yet delivered back, until `count` or
//                                              `seconds`; then {event:'sent', cast, seconds, rssWarmMB, rssEndMB}
//   {cmd:'report', expect, idleMs, timeoutMs}
//                                           -> once `expect` deliveries arrived (or none for
//                                              `idleMs`, or `timeoutMs` passed): {event:'report',
//                                              delivered, own, spanSeconds, views, stats}
//   {cmd:'exit'}                            -> exits at once (process.exit, so a `--cpu-prof`
//                                              profile is written; bench/profile-group.ts)
import { performance } from 'node:perf_hooks';
import { type Group, joinGroup, udp } from 'troupe/group';
import { emit, onCommands } from 'troupe/testkit';

const transport = await udp({ host: '127.0.0.1', port: 0 });
let group: Group | undefined;
let delivered = 0;
let own = 0;
let firstMs = 0;
let lastMs = 0;
let views = 0;
let wake: (() => void) | undefined;
/** The state a joiner restored (or a founder's, once asked for a snapshot). */
let state: Uint8Array | undefined;

const rssMB = (): number => Math.round(process.memoryUsage.rss() / 1e6);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function run(cmd: {
  size: number;
  count: number;
  seconds: number;
  window: number;
  burst: number;
}): Promise<void> {
  const g = group!;
  const payload = new Uint8Array(cmd.size).fill(0x2e);
  const t0 = performance.now();
  const deadline = t0 + cmd.seconds * 1000;
  let cast = 0;
  let rssWarmMB = 0;
  const warm = t0 + (cmd.seconds * 1000) / 4;
  // Bounded by count and by time; waits for own deliveries when the window is full.
  while (cast < cmd.count && performance.now() < deadline) {
    if (rssWarmMB === 0 && performance.now() >= warm) rssWarmMB = rssMB();
    let n = 0;
    while (n < cmd.burst && cast < cmd.count && cast - own < cmd.window) {
      g.cast(payload);
      cast++;
      n++;
    }
    if (n > 0) await tick();
    else
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    wake = undefined;
  }
  emit('sent', { cast, seconds: (performance.now() - t0) / 1000, rssWarmMB, rssEndMB: rssMB() });
}

async function report(expect: number, idleMs: number, timeoutMs: number): Promise<void> {
  const start = Date.now();
  let seen = -1;
  let seenAt = start;
  for (let i = 0; i < 10_000 && delivered < expect && Date.now() - start < timeoutMs; i++) {
    if (delivered !== seen) {
      seen = delivered;
      seenAt = Date.now();
    } else if (Date.now() - seenAt >= idleMs) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  emit('report', {
    delivered,
    own,
    spanSeconds: (lastMs - firstMs) / 1000,
    views,
    viewSize: group?.view?.members.length ?? 0,
    stats: group?.stats(),
  });
}

onCommands(async (cmd) => {
  if (cmd.cmd === 'join') {
    // A member that holds its state has it in memory already, as an application would: making
    // 64 MiB of fresh memory costs ~170 ms of page faults on a VM, which is not the transfer's.
    if (cmd.holdState === true && typeof cmd.stateBytes === 'number')
      state = new Uint8Array(cmd.stateBytes).fill(0x53);
    const g = await joinGroup(String(cmd.group), {
      seeds: cmd.seeds as string[],
      transport,
      layers: cmd.layers as Record<string, Record<string, unknown>> | undefined,
      joinTimeoutMs: Number(cmd.joinTimeoutMs ?? 10_000),
      ...(typeof cmd.stateBytes === 'number'
        ? {
            state: {
              snapshot: () => state ?? new Uint8Array(cmd.stateBytes as number).fill(0x53),
              restore: (s: Uint8Array) => {
                state = s;
              },
            },
          }
        : {}),
      // The unkeyed entries are the insecure baselines the keyed ones are compared to.
      ...(typeof cmd.key === 'string' ? { key: cmd.key, encrypt: cmd.encrypt === true } : { insecure: true }),
    });
    group = g;
    g.on('deliver', (d) => {
      const now = performance.now();
      if (delivered === 0) firstMs = now;
      lastMs = now;
      delivered++;
      if (d.sender === g.self) {
        own++;
        wake?.();
      }
    });
    g.on('view', (v) => {
      views++;
      emit('view', { members: v.view.members });
    });
    views = 1;
    emit('joined', { self: g.self, restoredBytes: state?.length ?? 0 });
    emit('view', { members: g.view!.members });
  } else if (cmd.cmd === 'run') {
    await run(cmd as unknown as Parameters<typeof run>[0]);
  } else if (cmd.cmd === 'report') {
    await report(Number(cmd.expect), Number(cmd.idleMs ?? 1_000), Number(cmd.timeoutMs ?? 10_000));
  } else if (cmd.cmd === 'exit') {
    process.exit(0);
  }
});
emit('ready', { address: transport.address });
