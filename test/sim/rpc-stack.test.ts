// RPC mode ran the group stack whatever `--stack` said (runSeed never read `stack` for --rpc, and
// the replay command dropped it): `--rpc --stack fc:total:...` swept the sequencer stack under
// the token stack's name. The replicas now run the stack given, and its replay names it.
import { expect, it } from 'vitest';
import { GROUP_STACK } from '../../runtime/layers/index.js';
import { parseFaults, replayCommand, runSeed, SIM_DEFAULTS, type SimOptions } from './run.js';

const TOKEN = 'fc:total:gms:frag:stable:nak:pack:com';
const rpc: SimOptions = {
  ...SIM_DEFAULTS,
  rpc: true,
  members: '3',
  faults: parseFaults('loss,dup,reorder,delay,crash'),
};

it('runs the replicas on the --stack given, and replays it', async () => {
  const seq = await runSeed(rpc, 110600001);
  const token = await runSeed({ ...rpc, stack: TOKEN }, 110600001);
  expect(seq.violations).toEqual([]);
  expect(token.violations).toEqual([]);
  expect(token.digest()).not.toBe(seq.digest());
  expect(replayCommand({ ...rpc, stack: TOKEN }, 1)).toContain(`--stack ${TOKEN}`);
  expect(replayCommand(rpc, 1)).not.toContain('--stack');
  expect(replayCommand({ ...rpc, rpc: false }, 1)).toContain(`--stack ${GROUP_STACK}`);
}, 60_000);
