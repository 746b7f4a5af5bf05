import {
  CLIENT_FORGE_DEFAULTS,
  type ClientForgeOptions,
  describeClient,
  minimizeClient,
  runClientForge,
} from './forge-client.js';
import { forgeCli } from './forge-driver.js';
import { UsageError } from './usage.js';

const HELP = `npx tsx test/sim/forge-client-cli.ts [options]   forged client-packet fuzzer (test/sim/forge-client.ts)

  --seeds A..B     seeds to run; --seed N runs one and prints its forged datagrams, decoded
  --members A..B   members per scenario (default ${CLIENT_FORGE_DEFAULTS.members})
  --faults LIST    the network's faults (default ${CLIENT_FORGE_DEFAULTS.faults.join(',')})
  --events N       forgery events per run, each one packet sent 1..4 times (default ${CLIENT_FORGE_DEFAULTS.events})
  --keyed          replicas and clients sign client packets with a key the forger lacks
  --oracle         the forger reads every field (on the path): keyless runs must then fail
  --no-control     skip the control run without the forgery (the views check)
  --plant P        a planted weakness: ids (the forger knows the client ids), key (it holds the
                   key; with --keyed), cookies (replicas take any cookie as an address proof)
  --verbose        print every seed's forgeries, failing or not
  --minimize       for a failing seed, find the fewest of its datagrams that still fail it
  --trace          print the run's events (with --seed)

Ends with 'S scenarios, V violations'; a failing seed prints its replay command.`;

let refused = 0;
let forgedRuns = 0;
let datagrams = 0;

await forgeCli({
  command: 'npx tsx test/sim/forge-client-cli.ts',
  help: HELP,
  defaults: { ...CLIENT_FORGE_DEFAULTS, seeds: '424000000..424000019' },
  options: { keyed: { type: 'boolean', default: false } },
  numbers: ['events'],
  build: (values, common): ClientForgeOptions => {
    if (values.plant !== undefined && !['ids', 'key', 'cookies'].includes(values.plant as string))
      throw new UsageError(`--plant: expected ids, key or cookies, got '${values.plant}'`);
    if (values.plant === 'key' && !values.keyed) throw new UsageError('--plant key needs --keyed');
    return {
      ...common(),
      keyed: values.keyed as boolean,
      ...(values.plant ? { plant: values.plant as 'ids' | 'key' | 'cookies' } : {}),
    };
  },
  run: runClientForge,
  minimize: minimizeClient,
  event: (e) => `: ${e.what}`,
  to: (d) => d.to,
  describe: describeClient,
  width: { datagram: 400, violations: 600 },
  eventsOnNotes: false,
  figures: (r) =>
    `views ${r.figures.views}${r.control ? ` (control ${r.control.views})` : ''} reflected ${r.figures.reflected} refused ${r.figures.refused} ordered ${r.figures.ordered} forger's own ${r.figures.forgedRuns}`,
  replay: (o) =>
    `--members ${o.members} --faults ${o.faults.join(',')} --events ${o.events}${o.keyed ? ' --keyed' : ''}${o.oracle ? ' --oracle' : ''}${o.plant ? ` --plant ${o.plant}` : ''}`,
  totals: {
    add: (r) => {
      refused += r.figures.refused;
      forgedRuns += r.figures.forgedRuns;
      datagrams += r.events.reduce((n, e) => n + e.sent.length, 0);
    },
    line: () =>
      `forged ${datagrams} datagrams; replicas refused ${refused} client packets; the forger's own calls ordered: ${forgedRuns}`,
  },
});
