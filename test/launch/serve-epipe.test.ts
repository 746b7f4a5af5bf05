// helper-119's review of 3c42ca6: the bin's EPIPE handler exited with `process.exitCode ?? 0`.
// For `troupe serve`, launcherMain returned 0 once the replica joined, so a running replica whose
// stdout reader went away (`troupe serve --json | shipper`, the shipper restarts) exited 0 at its
// next event line: silently, without leaving the group, and with the code a supervisor reads as a
// clean stop (systemd Restart=on-failure does not restart it). Before that, it crashed (exit 1).
// Now it keeps serving and says once on stderr that its events are no longer printed.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
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
  // A UDP port free a moment ago (the replica binds UDP).
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const seed = `127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      'bin/troupe.ts',
      'serve',
      path.join(tmp, 'bank.mjs'),
      '--model',
      path.join(tmp, 'bank.model.mjs'),
      '--insecure',
      '--json',
      '--group',
      'bank',
      '--port',
      String(port),
      '--seeds',
      seed,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let exit: number | null | undefined;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
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
  expect(stderr).toContain('stdout was closed (EPIPE)');
}, 60_000);
