/**
 * One replica of the bank, in its own process.
 *
 * Standalone, it joins the group at once:
 *
 *   npx tsx examples/bank/replica.ts --port 7001 --seeds 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
 *
 * Started by `examples/bank/demo.ts` (or a test) without `--seeds`, it binds its UDP socket (port 0
 * unless `--port` is given: the kernel picks a free port, so there is no bind-and-release race),
 * prints `{"event":"ready","address","pid"}` and waits for JSON commands on stdin, one per line:
 *
 *   {cmd:'join', seeds, layers?}  -> {event:'joined', self, view}; then every view as
 *                                    {event:'view', id, members, failed, left}
 *   {cmd:'state'}                 -> {event:'state', self, view, balances, holder, stats}:
 *                                    this replica's own state, read locally (no group call)
 *   {cmd:'outcome', id}           -> {event:'outcome', id, status, value?}: its outcome table
 *   {cmd:'leave'}                 -> leaves the group cleanly, {event:'left'}, and exits
 *
 * The process exits when its stdin closes, so it never outlives the process that started it.
 */
import { parseArgs } from 'node:util';
import type { Group } from '../../runtime/group/group.js';
import { joinReplica } from '../../runtime/rpc/join.js';
import type { Replica } from '../../runtime/rpc/replica.js';
import { udp } from '../../runtime/transport/udp.js';
import { emit, onCommands } from '../../test/support/processes.js';
import { Bank } from './bank.js';
import { validateBankRequest } from './generated/bank.model.js';

const { values: flags } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    seeds: { type: 'string' },
  },
});

const bank = new Bank();
const transport = await udp({ host: flags.host, port: Number(flags.port) });
let member: { replica: Replica<Bank>; group: Group } | undefined;

async function join(seeds: string[], layers?: Record<string, Record<string, unknown>>): Promise<void> {
  member = await joinReplica(bank, 'bank', { seeds, transport, layers, validate: validateBankRequest });
  const { group } = member;
  group.on('view', (v) =>
    emit('view', { id: v.view.id, members: v.view.members, failed: v.failed, left: v.left }),
  );
  emit('joined', { self: group.self, view: { id: group.view!.id, members: group.view!.members } });
}

function state(): Record<string, unknown> {
  const snap = bank.snapshot();
  return {
    self: member?.group.self,
    view: member?.group.view ? { id: member.group.view.id, members: member.group.view.members } : undefined,
    balances: Object.fromEntries(snap.balances),
    holder: member?.replica.holder('statements'),
    stats: member?.replica.stats(),
  };
}

if (flags.seeds) {
  await join(flags.seeds.split(','));
  console.error(`bank replica ${member!.group.self} at ${transport.address}`);
} else {
  onCommands(async (cmd) => {
    if (cmd.cmd === 'join') await join(cmd.seeds as string[], cmd.layers as never);
    else if (cmd.cmd === 'state') emit('state', state());
    else if (cmd.cmd === 'outcome')
      emit('outcome', { id: cmd.id, ...member?.replica.outcome(String(cmd.id)) });
    else if (cmd.cmd === 'leave') {
      await member?.group.leave();
      emit('left');
      process.exit(0);
    }
  });
  emit('ready', { address: transport.address, pid: process.pid });
}
