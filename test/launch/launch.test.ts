/**
 * The replica launcher's configuration: flags over environment over config file, the key only
 * from a file or TROUPE_KEY (and required unless --insecure), seeds with host names resolved
 * or refused at once, and a replica that starts, prints who it is and leaves.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { bankModel } from '../../examples/bank/generated/bank.model.js';
import { readLaunchOptions } from '../../runtime/launch/config.js';
import { LaunchError } from '../../runtime/launch/errors.js';
import { parseKey, readKeyFile, writeKeyFile } from '../../runtime/launch/key.js';
import { runReplica } from '../../runtime/launch/run.js';
import { resolveSeeds } from '../../runtime/launch/seeds.js';
import { JoinWitness } from '../../runtime/launch/witness.js';
import type { Transport } from '../../runtime/transport/types.js';
import { PacketAuth } from '../../runtime/wire/auth.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-launch-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const KEY = 'ab'.repeat(32);

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof LaunchError ? e.code : `not a LaunchError: ${e}`;
  }
  return undefined;
}
async function asyncCode(f: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    return e instanceof LaunchError ? e.code : `not a LaunchError: ${e}`;
  }
  return undefined;
}

describe('launcher options', () => {
  it('takes flags over environment over the config file', () => {
    const config = path.join(tmp, 'replica.json');
    fs.writeFileSync(path.join(tmp, 'k.key'), KEY);
    fs.writeFileSync(
      config,
      JSON.stringify({ port: 7001, group: 'g-file', seeds: ['a:1'], keyFile: 'k.key' }),
    );
    const { options } = readLaunchOptions(['--port', '7003', '--config', config], {
      TROUPE_PORT: '7002',
      TROUPE_GROUP: 'g-env',
    });
    expect(options).toMatchObject({ port: 7003, group: 'g-env', seeds: ['a:1'] });
    // A key file named in the config file is found next to it, wherever the process runs.
    expect(options.keyFile).toBe(path.join(tmp, 'k.key'));
    expect(Buffer.from(options.key as Uint8Array).toString('hex')).toBe(KEY);
  });

  it('reads the key from TROUPE_KEY (hex or base64), never from a flag', () => {
    const hex = readLaunchOptions([], { TROUPE_KEY: KEY }).options.key as Buffer;
    const b64 = readLaunchOptions([], { TROUPE_KEY: Buffer.from(KEY, 'hex').toString('base64') }).options
      .key as Buffer;
    expect(hex.equals(b64)).toBe(true);
    expect(code(() => readLaunchOptions(['--key', KEY], {}))).toBe('CONFIG');
    const config = path.join(tmp, 'inline.json');
    fs.writeFileSync(config, JSON.stringify({ key: KEY }));
    expect(code(() => readLaunchOptions(['--config', config], {}))).toBe('CONFIG');
  });

  it('refuses short or garbled keys and a key together with --insecure', () => {
    expect(code(() => parseKey('ab'.repeat(16), 'k'))).toBe('KEY_INVALID');
    expect(code(() => parseKey('not a key!', 'k'))).toBe('KEY_INVALID');
    expect(code(() => readLaunchOptions(['--insecure'], { TROUPE_KEY: KEY }))).toBe('CONFIG');
    expect(code(() => readLaunchOptions(['--key-file', path.join(tmp, 'absent')], {}))).toBe('KEY_FILE');
  });

  it('refuses unknown options, bad ports and transports', () => {
    expect(code(() => readLaunchOptions(['--prot', '1'], {}))).toBe('CONFIG');
    expect(code(() => readLaunchOptions(['--port', '70000'], {}))).toBe('CONFIG');
    expect(code(() => readLaunchOptions(['--transport', 'carrier-pigeon'], {}))).toBe('CONFIG');
    expect(readLaunchOptions(['--mcast-group', '239.1.2.3'], {}).options.transport).toBe('multicast');
  });

  it('keygen writes 32 random bytes as hex, owner-only, and never overwrites', () => {
    const file = path.join(tmp, 'new.key');
    writeKeyFile(file);
    expect(readKeyFile(file)).toHaveLength(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(code(() => writeKeyFile(file))).toBe('KEY_FILE');
  });
});

describe('seeds', () => {
  it('resolves host names and keeps addresses', async () => {
    expect(await resolveSeeds('localhost:7001, 127.0.0.1:7002')).toStrictEqual([
      '127.0.0.1:7001',
      '127.0.0.1:7002',
    ]);
  });

  it('refuses a seed without a port, or that does not resolve, at once', async () => {
    expect(await asyncCode(() => resolveSeeds(['localhost']))).toBe('SEED_NO_PORT');
    expect(await asyncCode(() => resolveSeeds(['127.0.0.1:0']))).toBe('SEED_NO_PORT');
    expect(await asyncCode(() => resolveSeeds(['no-such-host.invalid:7001']))).toBe('SEED_UNRESOLVED');
  });
});

describe('runReplica', () => {
  it('needs a key or an explicit insecure, before binding anything', async () => {
    expect(await asyncCode(() => runReplica(new Bank(), bankModel, { argv: [], env: {} }))).toBe(
      'KEY_REQUIRED',
    );
  });

  it('starts a keyed replica that founds its group, and stops it cleanly', async () => {
    const r = await runReplica(new Bank(), bankModel, {
      argv: ['--port', '0'],
      env: { TROUPE_KEY: KEY },
      handleSignals: false,
      json: true,
    });
    try {
      expect(r.group.view?.members).toStrictEqual([r.group.self]);
      expect(r.transport.address).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await r.stop();
    }
  });
});

describe('a join that fails says why', () => {
  async function pair(a: Record<string, string>, b: Record<string, string>): Promise<string[]> {
    const { freePorts } = await import('../../testkit/ports.js');
    const [pa, pb] = await freePorts(2);
    const seeds = `127.0.0.1:${pa},127.0.0.1:${pb}`;
    const start = (port: number, env: Record<string, string>) =>
      runReplica(new Bank(), bankModel, {
        argv: ['--port', String(port), '--seeds', seeds],
        env,
        handleSignals: false,
        joinTimeoutMs: 4_000,
      }).then(
        async (r) => {
          await r.stop();
          return 'joined';
        },
        (e: unknown) => (e instanceof LaunchError ? `${e.code}: ${e.message}` : String(e)),
      );
    return Promise.all([start(pa!, a), start(pb!, b)]);
  }

  it('names the seed that signs with another key', async () => {
    const [a] = await pair({ TROUPE_KEY: KEY }, { TROUPE_KEY: 'cd'.repeat(32) });
    expect(a).toMatch(/^JOIN_FAILED: .*127\.0\.0\.1:\d+ signs its packets with another key/);
  });

  it('names the seed that belongs to another group', async () => {
    const [a] = await pair({ TROUPE_KEY: KEY }, { TROUPE_KEY: KEY, TROUPE_GROUP: 'other' });
    expect(a).toMatch(/^JOIN_FAILED: .*127\.0\.0\.1:\d+ sends packets for another group/);
  });

  it('takes a packet of the same key addressed to another endpoint for a member, not another key', () => {
    // Members bind packets to their receiver (handshakes, point-to-point): the witness, which
    // has no endpoint of its own, cannot check the binding, and must not call that a key mismatch
    // (troupe serve printed "signs its packets with another key" at every start of 3 replicas).
    const warned: string[] = [];
    const w = new JoinWitness('bank', KEY, (address, why) => warned.push(`${address} ${why}`));
    const packet = (key: string, to?: { node: number; inc: number }) =>
      new PacketAuth(key).encode(
        {
          type: PacketType.Stack,
          flags: 0,
          groupId: groupIdOf('bank'),
          sender: { node: 7, inc: 1 },
          headers: [],
          payload: new Uint8Array(0),
        },
        to,
      );
    let handler: (bytes: Uint8Array, from: string) => void = () => {};
    w.watch({ onPacket: (h: typeof handler) => (handler = h) } as unknown as Transport).onPacket(() => {});
    handler(packet(KEY, { node: 9, inc: 1 }), '127.0.0.1:7001');
    expect(warned).toStrictEqual([]);
    handler(packet('cd'.repeat(32), { node: 9, inc: 1 }), '127.0.0.1:7002');
    handler(packet('ef'.repeat(32)), '127.0.0.1:7003');
    expect(warned).toStrictEqual([
      '127.0.0.1:7002 signs its packets with another key (check the key file)',
      '127.0.0.1:7003 signs its packets with another key (check the key file)',
    ]);
  });

  it('counts a seed that refused the join as heard, and its own echo as nobody', () => {
    // troupe serve --group other, seeds [a member of 'kv', itself], said "...answered for another
    // group...: heard members at <itself> but no view formed; nothing answered at <the member>".
    const w = new JoinWitness('other', KEY);
    let handler: (bytes: Uint8Array, from: string) => void = () => {};
    w.watch({ onPacket: (h: typeof handler) => (handler = h) } as unknown as Transport).onPacket(() => {});
    const notice = encodePacket({
      type: PacketType.Discovery,
      flags: 0,
      groupId: groupIdOf('kv'),
      sender: { node: 7, inc: 1 },
      headers: [['refused', 'group', 'abcd', '']],
      payload: new Uint8Array(0),
    });
    handler(notice, '127.0.0.1:7001');
    const own = new PacketAuth(KEY).encode({
      type: PacketType.Discovery,
      flags: 0,
      groupId: groupIdOf('other'),
      sender: { node: 9, inc: 1 },
      headers: [],
      payload: new Uint8Array(0),
    });
    handler(own, '127.0.0.1:7002');
    expect(w.explain(['127.0.0.1:7001', '127.0.0.1:7002'], '127.0.0.1:7002')).toBe(
      '127.0.0.1:7001 sends packets for another group (check the group name)',
    );
  });

  it('names the seeds where nothing answered (a lone replica founds its group instead of failing)', () => {
    const w = new JoinWitness('bank', undefined);
    expect(w.explain(['127.0.0.1:7001', '127.0.0.1:7002'], '127.0.0.1:7002')).toBe(
      'nothing answered at 127.0.0.1:7001 (not running, or unreachable)',
    );
  });
});

describe('the troupe bin', () => {
  it('ends quietly, exit 0, when its reader closes the pipe (troupe status | head)', async () => {
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), 'bin/troupe.ts', '--help'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.destroy(); // the reader is gone before the bin writes
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});

describe('a launcher of its own (runReplica)', () => {
  it('answers --help with the options, exit 0, and joins nothing', () => {
    // Before, `node replica.js --help` went on: KEY_REQUIRED without a key, a replica with one.
    const r = spawnSync(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), 'test/launch/fixtures/bank-replica.ts', '--help'],
      { encoding: 'utf8', env: { ...process.env, TROUPE_KEY: KEY }, timeout: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: node test\/launch\/fixtures\/bank-replica\.ts \[options\]/);
    expect(r.stdout).toContain('--key-file PATH');
    expect(r.stdout).toContain('--metrics-port N');
  }, 60_000);
});

describe('troupe serve and keygen', () => {
  it('answer --help with their usage, exit 0, as troupe dist does (each said "unknown option", exit 2)', async () => {
    const { launcherMain } = await import('../../runtime/launch/cli.js');
    const { distMain } = await import('../../runtime/distrib/main.js');
    const out: string[] = [];
    const log = console.log;
    console.log = (s: string) => out.push(s);
    try {
      expect(await launcherMain(['keygen', '--help'])).toBe(0);
      expect(await launcherMain(['serve', '--help'])).toBe(0);
    } finally {
      console.log = log;
    }
    expect(out[0]).toMatch(/^Usage: troupe keygen \[PATH\]/);
    expect(out[1]).toMatch(/^Usage: troupe serve <module.js> \[options\]/);
    expect(fs.existsSync('--help')).toBe(false);
    const lines: string[] = [];
    const errs: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => errs.push(l) };
    expect(await distMain(['--help'], io)).toBe(0);
    expect(await distMain(['receive', '--help'], io)).toBe(0);
    expect(errs).toEqual([]);
    expect(lines.filter((l) => l.startsWith('  troupe dist receive --dir'))).toHaveLength(2);
  });

  it('refuses TypeScript, a missing module and a missing model with one line each', async () => {
    const { launcherMain } = await import('../../runtime/launch/cli.js');
    const errs: string[] = [];
    // tsc with target ESNext keeps decorators as syntax, which Node does not parse.
    const esnext = path.join(tmp, 'esnext.mjs');
    fs.writeFileSync(esnext, "@Service('kv')\nexport class Kv {\n  @Ordered()\n  put() {}\n}\n");
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => errs.push(s) > 0) as typeof process.stderr.write;
    try {
      expect(await launcherMain(['serve', 'examples/bank/bank.ts', '--insecure'])).toBe(2);
      expect(await launcherMain(['serve', path.join(tmp, 'absent.js'), '--insecure'])).toBe(2);
      const lone = path.join(tmp, 'lone.mjs');
      fs.writeFileSync(lone, 'export const nothing = 1;\n');
      expect(await launcherMain(['serve', lone, '--insecure'])).toBe(2);
      expect(await launcherMain(['keygen', '--force'])).toBe(2);
      expect(await launcherMain(['serve', esnext, '--insecure'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errs).toHaveLength(5);
    expect(errs[4]).toContain(`module '${esnext}' does not load: `);
    expect(errs[4]).toContain('"target" Node runs');
    expect(errs[0]).toContain('is TypeScript: compile it');
    expect(errs[1]).toContain('does not exist');
    expect(errs[2]).toContain('exports no @Service class');
    expect(errs[3]).toContain('usage: troupe keygen [PATH]');
  });

  it('refuses a service whose constructor needs arguments, which new Service() would not give', async () => {
    // `constructor(start: number)` served as new Ctor(): inc() answered NaN, nothing said why.
    const { launcherMain } = await import('../../runtime/launch/cli.js');
    const decorators = path.resolve('runtime/rpc/decorators.ts');
    const source = (ctor: string) =>
      `import { Ordered, Service } from ${JSON.stringify(decorators)};\n` +
      `export class Ctor { ${ctor} inc() { return ++this.n; } }\n` +
      `Ordered()(Ctor.prototype, 'inc', Object.getOwnPropertyDescriptor(Ctor.prototype, 'inc'));\n` +
      `Service('ctor')(Ctor);\n`;
    const needs = path.join(tmp, 'ctor-needs.mjs');
    fs.writeFileSync(needs, source('constructor(start) { this.n = start; }'));
    const defaults = path.join(tmp, 'ctor-defaults.mjs');
    fs.writeFileSync(defaults, source('constructor(start = 0) { this.n = start; }'));
    const errs: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => errs.push(s) > 0) as typeof process.stderr.write;
    try {
      expect(await launcherMain(['serve', needs, '--insecure'])).toBe(2);
      // With defaults it gets past the check: to the model, which is not there.
      expect(await launcherMain(['serve', defaults, '--insecure'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errs[0]).toContain(
      "Ctor's constructor takes 1 parameter(s), and troupe serve makes it with none (new Ctor()): give them defaults, or start it from a launcher of your own: await runReplica(new Ctor(...), ctorModel)",
    );
    expect(errs[1]).toContain("no generated model of service 'ctor'");
  });
});
