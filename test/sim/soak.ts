import { parseArgs } from 'node:util';
import { GROUP_CHECKERS } from './group-checkers.js';
import { groupConfig, runScenario } from './scenario.js';
import type { Fault } from './world.js';

/**
 * `npx tsx test/sim/soak.ts --messages 200000`: a long steady load through a 5-member group in the
 * simulator, checked by every group checker, reporting the high-water marks of every buffer
 * (retransmission, membership, total order) to show memory stays bounded under load.
 */
const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    members: { type: 'string', default: '5' },
    rate: { type: 'string', default: '5', description: 'casts per simulated ms, group-wide' },
    faults: { type: 'string', default: 'loss,dup,reorder,delay' },
    seed: { type: 'string', default: '1' },
  },
});
const members = Number(values.members);
const total = Number(values.messages);
const loadMs = total / Number(values.rate);
const faults = values.faults.split(',').filter(Boolean) as Fault[];
const cfg = {
  ...groupConfig(Number(values.seed), members, faults),
  messages: Math.ceil(total / members),
  loadMs,
  faultMs: loadMs,
  endMs: loadMs + 10_000,
};
const started = performance.now();
const r = runScenario(cfg, GROUP_CHECKERS);
const seconds = (performance.now() - started) / 1000;
const high = { nakBuffer: 0, nakBuffered: 0, gmsHeld: 0, gmsFuture: 0, totalHeld: 0, delivered: 0 };
for (const inc of r.world.incarnations) {
  const s = inc.stats();
  high.nakBuffer = Math.max(high.nakBuffer, s.nak?.bufferHighWater ?? 0);
  high.nakBuffered = Math.max(high.nakBuffered, s.nak?.buffered ?? 0);
  high.gmsHeld = Math.max(high.gmsHeld, s.gms?.heldHighWater ?? 0);
  high.gmsFuture = Math.max(high.gmsFuture, s.gms?.future ?? 0);
  high.totalHeld = Math.max(high.totalHeld, s.total?.held ?? 0);
  high.delivered += inc.delivered.length;
}
process.stdout.write(
  `${cfg.messages * members} messages, ${members} members, ${faults.join(',') || 'no faults'}: ` +
    `${high.delivered} deliveries in ${seconds.toFixed(1)} s\n` +
    `high-water marks: nak retransmission buffer ${high.nakBuffer} (left at end ${high.nakBuffered}), ` +
    `gms held ${high.gmsHeld}, total-order held at end ${high.totalHeld}\n` +
    `${r.violations.length} violations\n`,
);
for (const v of r.violations.slice(0, 10)) process.stdout.write(`  ${v}\n`);
process.exitCode = r.violations.length > 0 ? 1 : 0;
