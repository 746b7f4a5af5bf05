import { describe, FORGE_DEFAULTS, type ForgeOptions, minimize, runForge } from './forge.js';
import { forgeCli } from './forge-driver.js';
import { UsageError } from './usage.js';

const HELP = `npx tsx test/sim/forge-cli.ts [options]   forged-datagram fuzzer (test/sim/forge.ts)

  --seeds A..B     seeds to run; --seed N runs one and prints its forged datagrams, decoded
  --members A..B   members per scenario (default ${FORGE_DEFAULTS.members})
  --faults LIST    the network's faults (default ${FORGE_DEFAULTS.faults.join(',')})
  --messages N     group mode: casts per member (default ${FORGE_DEFAULTS.messages})
  --events N       forgery events per run, each one template sent 1..4 times (default 1)
  --rpc            RPC mode: replicas and clients (the RPC checkers)
  --oracle         the forger knows every field (on the path): such forgeries must succeed
  --no-control     skip the control run without the forgery (and the checks that compare)
  --latency MS     one-way latency of every packet
  --keyed         the members sign every packet with a group key the forger lacks: it replays
                   captured datagrams verbatim (later, to anyone, from anywhere), or sends its
                   drafts unsigned, signed with another key, or signed for another group that
                   shares the key (use with --oracle: on the path, every field known)
  --wild           leaf mutations also draw NaN, ±Infinity and floats beyond 2^53
  --plant P        a planted weakness: origins (nak streams begin at 0, no random origins, so
                   small position guesses land), key (with --keyed: the forger holds the key);
                   the fuzzer must then fail
  --verbose        print every seed's forgeries, failing or not
  --minimize       for a failing seed, find the fewest of its datagrams that still fail it
  --trace          print the run's events (with --seed)

Ends with 'S scenarios, V violations'; a failing seed prints its replay command.`;

let keyed = false;
let authRefused = 0;

await forgeCli({
  command: 'npx tsx test/sim/forge-cli.ts',
  help: HELP,
  defaults: { ...FORGE_DEFAULTS, seeds: '412000000..412000019' },
  options: {
    messages: { type: 'string', default: String(FORGE_DEFAULTS.messages) },
    rpc: { type: 'boolean', default: false },
    latency: { type: 'string', default: '0' },
    keyed: { type: 'boolean', default: false },
    wild: { type: 'boolean', default: false },
  },
  numbers: ['messages', 'events', 'latency'],
  build: (values, common): ForgeOptions => {
    if (values.plant !== undefined && values.plant !== 'origins' && values.plant !== 'key')
      throw new UsageError(`--plant: expected origins or key, got '${values.plant}'`);
    if (values.plant === 'key' && !values.keyed) throw new UsageError('--plant key needs --keyed');
    keyed = values.keyed === true;
    const c = common();
    return {
      rpc: values.rpc as boolean,
      ...c,
      messages: Number(values.messages),
      ...(Number(values.latency) > 0 ? { latency: Number(values.latency) } : {}),
      ...(values.plant === 'origins' || values.plant === 'key' ? { plant: values.plant } : {}),
      ...(values.keyed ? { keyed: true } : {}),
      ...(values.wild ? { wild: true } : {}),
    };
  },
  run: runForge,
  minimize,
  event: (e) => ` from ${e.template}`,
  to: (d) => `n${d.to}`,
  describe,
  eventsOnNotes: true,
  figures: ({ figures: f, control: c }) =>
    `stopped ${f.stopped} (before a view ${f.stoppedJoining}) views ${f.views} reflected ${f.reflected} authRefused ${f.authRefused} retransmits ${f.retransmits} naks ${f.naks} pendingBytesMax ${f.pendingBytesMax} futureMax ${f.futureMax}` +
    (c
      ? ` | control: stopped ${c.stopped} views ${c.views} authRefused ${c.authRefused} retransmits ${c.retransmits} naks ${c.naks} pendingBytesMax ${c.pendingBytesMax} futureMax ${c.futureMax}`
      : ''),
  replay: (o) =>
    `--members ${o.members} --faults ${o.faults.join(',')}${o.rpc ? ' --rpc' : ` --messages ${o.messages}`}${o.events !== 1 ? ` --events ${o.events}` : ''}${o.oracle ? ' --oracle' : ''}${o.latency ? ` --latency ${o.latency}` : ''}${o.plant ? ` --plant ${o.plant}` : ''}${o.keyed ? ' --keyed' : ''}${o.wild ? ' --wild' : ''}`,
  // Keyed runs say how many of the forger's packets com refused by authentication.
  totals: {
    add: (r) => {
      authRefused += r.figures.authRefused;
    },
    line: () => (keyed ? `com refused ${authRefused} packets by authentication` : ''),
  },
});
