/**
 * `--receive-dir` in the launcher (issue 15): a replica process started with it also runs an
 * AFDP receiver of the transfer group named like its group, with its key, so `troupe dist`
 * pushes to a fleet of long-lived replica processes; the receiver stops with the replica.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distMain } from '../../runtime/distrib/main.js';
import { readLaunchOptions } from '../../runtime/launch/config.js';
import { LaunchError } from '../../runtime/launch/errors.js';
import { freePorts } from '../../testkit/ports.js';
import { ProcessHarness } from '../../testkit/processes.js';
import { startBankReplicas } from './fixtures/start.js';

const KEY = 'cd'.repeat(32);
const procs = new ProcessHarness();
let root = '';
afterAll(async () => {
  await procs.stopAll();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('troupe serve --receive-dir', () => {
  it('reads the flags, environment and config keys, and refuses a port without a directory', async () => {
    expect(readLaunchOptions(['--receive-dir', 'in', '--receive-port', '47001'], {}).options).toMatchObject({
      receiveDir: 'in',
      receivePort: 47001,
    });
    expect(readLaunchOptions([], { TROUPE_RECEIVE_DIR: '/srv/in' }).options).toMatchObject({
      receiveDir: '/srv/in',
    });
    root = await mkdtemp(path.join(tmpdir(), 'troupe-serve-receive-'));
    const config = path.join(root, 'conf', 'troupe.json');
    await mkdir(path.dirname(config));
    await writeFile(config, JSON.stringify({ receiveDir: 'drop', receivePort: 0 }));
    // Relative to the config file, like its key file.
    expect(readLaunchOptions(['--config', config], {}).options).toMatchObject({
      receiveDir: path.join(root, 'conf', 'drop'),
      receivePort: 0,
    });
    expect(
      readLaunchOptions(['--receive-dir', 'in', '--receive-mcast', '239.255.77.3:47003'], {}).options,
    ).toMatchObject({ receiveMulticast: { group: '239.255.77.3', port: 47003 } });
    expect(
      readLaunchOptions([], { TROUPE_RECEIVE_DIR: 'in', TROUPE_RECEIVE_MCAST: '239.1.2.3:9' }).options,
    ).toMatchObject({ receiveMulticast: { group: '239.1.2.3', port: 9 } });
    expect(() => readLaunchOptions(['--receive-mcast', '239.255.77.3:47003'], {})).toThrow(
      /without --receive-dir/,
    );
    for (const bad of ['10.0.0.1:47003', '239.255.77.3', 'host:1', '239.255.77.3:x'])
      expect(() => readLaunchOptions(['--receive-dir', 'in', '--receive-mcast', bad], {})).toThrow(
        LaunchError,
      );
    expect(() => readLaunchOptions(['--receive-port', '47001'], {})).toThrow(LaunchError);
    expect(() => readLaunchOptions(['--receive-dir', 'in', '--receive-port', 'x'], {})).toThrow(/not a port/);
  });

  it.each([
    ['fan-out', false],
    ['IP multicast (--receive-mcast, dist --multicast)', true],
  ])(
    'two replica processes take one push from troupe dist by %s, with the group key, and stop on SIGTERM',
    async (_how, mcast) => {
      root ||= await mkdtemp(path.join(tmpdir(), 'troupe-serve-receive-'));
      const src = path.join(root, 'release');
      await mkdir(src, { recursive: true });
      const payload = randomBytes(200_000);
      await writeFile(path.join(src, 'app.bin'), payload);
      const keyFile = path.join(root, 'troupe.key');
      await writeFile(keyFile, KEY);
      const ports = await freePorts(3);
      const group = `239.255.77.${mcast ? 4 : 3}:${ports[2]}`;
      const replicas = await startBankReplicas(procs, {
        ports: ports.slice(0, 2),
        key: KEY,
        extra: (i) => [
          '--receive-dir',
          path.join(root, `in-${mcast ? 'm' : 'u'}${i}`),
          ...(mcast ? ['--receive-mcast', group] : []),
        ],
      });
      const receiving = await Promise.all(replicas.map((r) => r.waitFor('receiving')));
      expect(receiving.map((e) => e.group)).toStrictEqual(['bank', 'bank']);

      const out: string[] = [];
      const code = await distMain(
        [
          src,
          '--to',
          'bank',
          '--seeds',
          receiving.map((e) => e.address as string).join(','),
          '--key-file',
          keyFile,
          ...(mcast ? ['--multicast', group, '--host', '127.0.0.1'] : []),
        ],
        { out: (l) => out.push(l), err: (l) => out.push(`err: ${l}`) },
      );
      expect(code, out.join('\n')).toBe(0);
      // The sender's summary names how each receiver was served: its multicast casts reached them
      // (a receiver they do not reach is served by unicast instead, and named so).
      if (mcast)
        expect(
          out.filter((l) => l.startsWith('receiver ')).map((l) => /, (\w+)\)$/.exec(l)?.[1]),
        ).toStrictEqual(['multicast', 'multicast']);
      const placed = await Promise.all(replicas.map((r) => r.waitFor('received', 30_000)));
      expect(placed.map((e) => e.written)).toStrictEqual([1, 1]);
      for (const i of [0, 1])
        expect(
          (await readFile(path.join(root, `in-${mcast ? 'm' : 'u'}${i}`, 'release', 'app.bin'))).equals(
            payload,
          ),
        ).toBe(true);

      // A sender with another key reaches nobody: the receivers authenticate with the group's.
      const otherKey = path.join(root, 'other.key');
      await writeFile(otherKey, 'ef'.repeat(32));
      const refused = await distMain(
        [
          src,
          '--to',
          'bank',
          '--seeds',
          receiving[0]!.address as string,
          '--key-file',
          otherKey,
          '--dead-ms',
          '1500',
        ],
        { out: () => {}, err: () => {} },
      );
      expect(refused).toBe(1);

      const exits = await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
      expect(exits.map((e) => e.code)).toStrictEqual([0, 0]);
    },
  );
});
