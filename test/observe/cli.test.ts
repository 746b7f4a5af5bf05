import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { writeKeyFile } from '../../runtime/launch/key.js';
import { statusCommand, traceCommand } from '../../runtime/observe/cli.js';
import { Observer } from '../../runtime/observe/observer.js';
import { connect, joinReplica, type TroupeClient } from '../../runtime/rpc/index.js';
import { udp } from '../../runtime/transport/udp.js';
import { until } from '../support/until.js';
import { FAST } from './support.js';

// The key as `troupe keygen` writes it (hex) for TROUPE_KEY and key files, decoded for the group.
const KEY_TEXT = '5eed'.repeat(16);
const KEY = Buffer.from(KEY_TEXT, 'hex');
let groups: Group[] = [];
let observers: Observer[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  for (const o of observers) o.close();
  groups = [];
  observers = [];
  clients = [];
});

let replicas: { instance: Bank }[] = [];
const applied = () => replicas.filter((r) => r.instance.balance('alice') === 7).length;

async function keyedGroup(n: number): Promise<string[]> {
  const ts = await Promise.all(Array.from({ length: n }, () => udp({ host: '127.0.0.1' })));
  const seeds = ts.map((t) => t.address);
  const made = await Promise.all(
    ts.map((transport) => {
      const observer = new Observer();
      observers.push(observer);
      return joinReplica(new Bank(), 'bank', {
        seeds,
        transport,
        layers: FAST,
        validate: validateBankRequest,
        key: KEY,
        observe: observer,
      });
    }),
  );
  groups = made.map((m) => m.group);
  replicas = made.map((m) => m.replica);
  await until(() => groups.every((g) => g.view?.members.length === n), 5_000, `a ${n}-member view`);
  return seeds;
}

/** `troupe status` of the keyed test group asked at `seed`: its exit code and what it printed. */
async function askStatus(seed: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const c = capture();
  const code = await statusCommand(['--group', 'bank', '--seeds', seed], {
    ...c.io,
    env: { TROUPE_KEY: KEY_TEXT },
  });
  return { code, out: c.out, err: c.err };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} } };
}

describe('troupe trace and troupe status against a live keyed group', () => {
  it('trace prints one timeline of a request across the contact and every replica', async () => {
    const seeds = await keyedGroup(3);
    const client = await connect({ group: 'bank', seeds, key: KEY });
    clients.push(client);
    const id = client.newRequestId();
    await BankClient.connect(client).deposit('alice', 7, { requestId: id });
    // Every replica has applied it (the reply came from the contact alone).
    await until(() => groups.length === 3 && applied() === 3, 3_000, 'every replica to apply it');
    const c = capture();
    const code = await traceCommand([id, '--group', 'bank', '--seeds', seeds.join(','), '--json'], {
      ...c.io,
      env: { TROUPE_KEY: KEY_TEXT },
    });
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    const doc = JSON.parse(c.out[0]!) as { timeline: { step: string; member: string; at: number }[] };
    const steps = doc.timeline.map((s) => s.step);
    expect(steps.filter((s) => s === 'ordered')).toHaveLength(3);
    expect(steps.filter((s) => s === 'outcome')).toHaveLength(3);
    expect(steps.filter((s) => s === 'received')).toHaveLength(1);
    expect(steps.indexOf('received')).toBeLessThan(steps.indexOf('cast'));
    expect(steps.indexOf('cast')).toBeLessThan(steps.indexOf('ordered'));
    expect(new Set(doc.timeline.map((s) => s.member))).toEqual(new Set(groups.map((g) => g.self)));
    for (let i = 1; i < doc.timeline.length; i++)
      expect(doc.timeline[i]!.at).toBeGreaterThanOrEqual(doc.timeline[i - 1]!.at);

    const text = capture();
    expect(
      await traceCommand([id, '--group=bank', `--seeds=${seeds[1]}`], {
        ...text.io,
        env: { TROUPE_KEY: KEY_TEXT },
      }),
    ).toBe(0);
    expect(text.out[0]).toBe(`request ${id} in group bank: 3 of 3 members know it`);
    expect(text.out.filter((l) => / ordered +view \d+, gseq \d+, contact /.test(l))).toHaveLength(3);

    const unknown = capture();
    expect(
      await traceCommand(['nobody:1', '--group', 'bank', '--seeds', seeds[0]!], {
        ...unknown.io,
        env: { TROUPE_KEY: KEY_TEXT },
      }),
    ).toBe(1);
    expect(unknown.out[0]).toBe('request nobody:1 in group bank: 0 of 3 members know it');

    const status = await askStatus(seeds[2]!);
    expect(status.code).toBe(0);
    expect(status.out[0]).toMatch(
      new RegExp(`^group bank: view \\d+, 3 members, coordinator ${groups[0]!.view!.members[0]}`),
    );
    expect(
      status.out.filter(
        (l) => / coordinator, sequencer, lock statements +\d+ +1 /.test(l) || / member +\d+ +1 /.test(l),
      ),
    ).toHaveLength(3);

    // --watch: asked again every 200 ms, twice; the second round has calls/s per member.
    const watched = capture();
    expect(
      await statusCommand(['--group', 'bank', '--seeds', seeds[2]!, '--watch', '200', '--count', '2'], {
        ...watched.io,
        env: { TROUPE_KEY: KEY_TEXT },
      }),
    ).toBe(0);
    const headers = watched.out.flatMap((l, i) => (l.startsWith('group bank: ') ? [i] : []));
    expect(headers).toHaveLength(2);
    const rows = (from: number, to?: number) =>
      watched.out
        .slice(from + 2, to)
        .filter((l) => /^ {2}\S+\.\d+ /.test(l))
        .slice(0, 3);
    // member address role view applied behind calls/s rss: '-' before a second round, a number after.
    const rate = (l: string) => l.trim().split(/ +/).at(-2);
    expect(rows(headers[0]!, headers[1]).map(rate)).toEqual(['-', '-', '-']);
    expect(
      rows(headers[1]!)
        .map(rate)
        .every((r) => /^\d+$/.test(r ?? '')),
    ).toBe(true);
    const usage = capture();
    expect(
      await statusCommand(['--group', 'bank', '--seeds', seeds[2]!, '--count', '2'], {
        ...usage.io,
        env: { TROUPE_KEY: KEY_TEXT },
      }),
    ).toBe(2);
    expect(usage.err[0]).toMatch(/^troupe: CLI_USAGE: --count needs --watch/);
  }, 30_000);

  it('behind is read from the order: a joiner that took the history as state is not behind', async () => {
    // `behind` compared the methods each process ran: a replica that joined after 20 calls read
    // "behind 20" for as long as it lived, up to date (the package review, session 33).
    const seeds = await keyedGroup(3);
    const client = await connect({ group: 'bank', seeds, key: KEY });
    clients.push(client);
    const bank = BankClient.connect(client);
    for (let i = 0; i < 20; i++) await bank.deposit('alice', 1);
    const transport = await udp({ host: '127.0.0.1' });
    const observer = new Observer();
    observers.push(observer);
    const joiner = await joinReplica(new Bank(), 'bank', {
      seeds,
      transport,
      layers: FAST,
      validate: validateBankRequest,
      key: KEY,
      observe: observer,
    });
    groups.push(joiner.group);
    await until(() => groups.every((g) => g.view?.members.length === 4), 10_000, 'a 4-member view');
    await until(
      () => joiner.replica.stats().appliedView === joiner.group.view?.id,
      5_000,
      'the join view applied',
    );
    for (let i = 0; i < 3; i++) await bank.deposit('alice', 1);
    await until(() => joiner.replica.stats().appliedInView === 3, 5_000, 'the joiner took 3 requests');
    const status = await askStatus(seeds[0]!);
    expect(status.code).toBe(0);
    // member address role view applied behind calls/s rss
    const rows = status.out.filter((l) => /^ {2}\S+\.\d+ /.test(l)).map((l) => l.trim().split(/ +/));
    expect(rows).toHaveLength(4);
    const applied = rows.map((r) => Number(r.at(-4)));
    expect(applied.sort((x, y) => x - y)).toEqual([3, 23, 23, 23]);
    expect(rows.map((r) => r.at(-3))).toEqual(['0', '0', '0', '0']);
  }, 30_000);

  it('--key-file reads the key as troupe serve does: a troupe keygen file asks a group keyed by it', async () => {
    const seeds = await keyedGroup(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-cli-key-'));
    try {
      const file = path.join(dir, 'group.key');
      fs.writeFileSync(file, `${KEY_TEXT}\n`, { mode: 0o600 });
      const c = capture();
      expect(await statusCommand(['--group', 'bank', '--seeds', seeds[0]!, '--key-file', file], c.io)).toBe(
        0,
      );
      expect(c.err).toEqual([]);
      expect(c.out[0]).toMatch(/^group bank: view \d+, 1 members?/);
      // TROUPE_KEY_FILE, as troupe serve takes it (before, a usage error: no key given).
      const viaEnv = capture();
      const env = { TROUPE_KEY_FILE: file };
      expect(await statusCommand(['--group', 'bank', '--seeds', seeds[0]!], { ...viaEnv.io, env })).toBe(0);
      expect(viaEnv.out[0]).toMatch(/^group bank: view \d+, 1 members?/);
      // Another keygen key is refused by the group, and a file that is no key is a usage error.
      writeKeyFile(path.join(dir, 'other.key'));
      const other = capture();
      const argv = ['--group', 'bank', '--seeds', seeds[0]!, '--timeout', '500', '--key-file'];
      expect(await statusCommand([...argv, path.join(dir, 'other.key')], other.io)).toBe(1);
      expect(other.err[0]).toMatch(/^troupe: JOIN_KEY_MISMATCH: /);
      fs.writeFileSync(path.join(dir, 'short.key'), 'abcd\n');
      const short = capture();
      expect(await statusCommand([...argv, path.join(dir, 'short.key')], short.io)).toBe(2);
      expect(short.err[0]).toMatch(/^troupe: CLI_USAGE: key file .* the key is 2 bytes/);
      const missing = capture();
      expect(await traceCommand(['a:1', ...argv, path.join(dir, 'none.key')], missing.io)).toBe(2);
      expect(missing.err[0]).toMatch(/^troupe: CLI_USAGE: cannot read key file /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  it('--help prints the usage and exits 0, whatever else is given', async () => {
    for (const [cmd, argv, first] of [
      [traceCommand, ['--help'], /^Usage: troupe trace <requestId> --group NAME/],
      [statusCommand, ['--group', 'g', '--help'], /^Usage: troupe status --group NAME/],
      [statusCommand, ['-h'], /^Usage: troupe status /],
    ] as const) {
      const c = capture();
      expect(await cmd(argv, c.io)).toBe(0);
      expect(c.err).toEqual([]);
      expect(c.out[0]).toMatch(first);
      expect(c.out.some((l) => l.includes('--key-file PATH'))).toBe(true);
    }
  });

  it('without the group key the replicas refuse, and say so; usage errors exit 2', async () => {
    const seeds = await keyedGroup(1);
    const c = capture();
    expect(
      await traceCommand(
        ['a:1', '--group', 'bank', '--seeds', seeds[0]!, '--timeout', '500', '--insecure'],
        c.io,
      ),
    ).toBe(1);
    expect(c.err[0]).toMatch(/^troupe: JOIN_KEY_MISMATCH: .*requires a key/);
    for (const argv of [
      ['a:1', '--seeds', seeds[0]!],
      ['a:1', '--group', 'bank'],
      ['--group', 'bank', '--seeds', 'x:1'],
      ['a:1', '--group', 'b', '--seeds', 'x:1', '--bogus', '1'],
      // Secure by default, as connect(): no key needs --insecure said out loud; not both.
      ['a:1', '--group', 'b', '--seeds', 'x:1'],
      ['a:1', '--group', 'b', '--seeds', 'x:1', '--insecure', '--key-file', '/dev/null'],
    ]) {
      const u = capture();
      expect(await traceCommand(argv, u.io)).toBe(2);
      expect(u.err[0]).toMatch(/^troupe: CLI_USAGE: /);
    }
  }, 15_000);
});
