// Review of 3c42ca6: the bin's EPIPE handler exits with `process.exitCode ?? 0`. For `troupe
// serve`, launcherMain returned 0 once the replica joined, so a running replica whose stdout
// reader goes away (`troupe serve --json | shipper`, the shipper restarts) exits 0 at its next
// event line: silently, without leaving the group, and with the code a supervisor reads as a
// clean stop (systemd Restart=on-failure does not restart it). Before, it crashed (exit 1).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { joinReplica } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';

it('troupe serve --json keeps running when its stdout reader goes away', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-epipe-'));
  const root = process.cwd();
  fs.writeFileSync(path.join(tmp, 'bank.mjs'), `export { Bank } from '${root}/examples/bank/bank.ts';\n`);
  fs.writeFileSync(
    path.join(tmp, 'bank.model.mjs'),
    `export { bankModel } from '${root}/examples/bank/generated/bank.model.ts';\n`,
  );
  const port = 47_000 + Math.floor(Math.random() * 1_000);
  const seed = `127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), 'bin/troupe.ts', 'serve', path.join(tmp, 'bank.mjs'),
      '--model', path.join(tmp, 'bank.model.mjs'), '--insecure', '--json', '--group', 'bank',
      '--port', String(port), '--seeds', seed],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let exit: number | null | undefined;
  child.on('exit', (code) => (exit = code));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve())); // "joined"
  child.stdout.destroy(); // the reader is gone
  const m = await joinReplica(new Bank(), 'bank', {
    seeds: [seed],
    transport: await udp({ host: '127.0.0.1' }),
    insecure: true,
    validate: validateBankRequest,
    joinTimeoutMs: 5_000,
  }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1_000));
  const running = exit === undefined;
  if (running) child.kill('SIGTERM');
  await m?.group.leave(500).catch(() => {});
  expect(exit).toBeUndefined(); // exited 0 here, mid-join of the second member (which then times out)
  expect(m).toBeDefined();
}, 60_000);
