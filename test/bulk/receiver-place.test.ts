// A dist receiver started through the API with no `onPlaced` (the example startReceiver's own
// comment gives) placed nothing: `o.onPlaced?.(await place(...))` is an optional call, and an
// optional call whose callee is missing evaluates none of its arguments, so `place` never ran
// and the part file was removed. `troupe dist receive` and `troupe serve --receive-dir` pass one.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { distMain } from '../../runtime/distrib/main.js';
import { startReceiver } from '../../runtime/distrib/receiver.js';
import { udp } from '../../runtime/transport/udp.js';
import { until } from '../support/until.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('a dist receiver without onPlaced', () => {
  it('places the push all the same', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'troupe-place-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    const src = path.join(root, 'src');
    const dir = path.join(root, 'dst');
    await mkdir(src);
    await mkdir(dir);
    const blob = randomBytes(256 * 1024);
    await writeFile(path.join(src, 'a.bin'), blob);
    const receiver = startReceiver({ dir, group: 'fleet', transport: await udp({ host: '127.0.0.1' }) });
    cleanup.push(() => receiver.close());
    const out: string[] = [];
    const code = await distMain([src, '--to', 'fleet', '--seeds', receiver.address, '--insecure'], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
    });
    expect(code, out.join('\n')).toBe(0);
    const placed = path.join(dir, 'src', 'a.bin');
    await until(() => existsSync(placed), 5_000, 'the push placed');
    await until(() => readFileSync(placed).equals(blob), 5_000, 'the whole file placed');
  }, 30_000);
});
