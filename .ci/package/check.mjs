#!/usr/bin/env node
// The package as a user gets it: `npm pack`, install the tarball into a fresh project outside
// the repository (no tsx, no path mappings), write a decorated service, `troupe gen`, compile
// with tsc (no experimentalDecorators), start 3 replicas with `troupe serve` under plain node,
// call every method kind, SIGKILL the contact and recover with outcome/reissue, stop all.
// Prints the figures it measured: install size, `troupe --help` time, replica start time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

const repo = path.resolve(import.meta.dirname, '../..');
const here = import.meta.dirname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-package-'));
const app = path.join(tmp, 'app');
const children = new Set();
const t0 = Date.now();
const log = (line) => console.log(`[package ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: app, encoding: 'utf8', timeout: 180_000, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function timeMs(cmd, args, n = 3) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    run(cmd, args);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  return Math.round(median(times));
}
function duKb(dir) {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);
}
async function freePorts(n) {
  const socks = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((res) => {
          const s = dgram.createSocket('udp4');
          s.bind(0, '127.0.0.1', () => res(s));
        }),
    ),
  );
  const ports = socks.map((s) => s.address().port);
  for (const s of socks) s.close();
  return ports;
}

function startReplica(args) {
  const started = Date.now();
  const proc = spawn(process.execPath, [path.join(app, 'node_modules/.bin/troupe'), 'serve', ...args], {
    cwd: app,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const events = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const e = JSON.parse(line);
    events.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (name, ms) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no '${name}' from replica within ${ms} ms: ${stderr}`)),
        ms,
      );
      const look = () => {
        const e = events.find((x) => x.event === name);
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else waiters.push(look);
      };
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`replica exited ${code} before '${name}': ${stderr}`));
      });
      look();
    });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, started, waitFor, exited, events };
}

let ok = false;
try {
  log(`packing ${repo}`);
  run('npm', ['pack', '--pack-destination', tmp, '--silent'], { cwd: repo });
  const tarball = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  const listing = execFileSync('tar', ['tzf', path.join(tmp, tarball)], { encoding: 'utf8' }).split('\n');
  const stray = listing.filter(
    (f) =>
      /^package\/(test|bench|\.ci|examples|node_modules)\//.test(f) ||
      (/\.ts$/.test(f) && !f.endsWith('.d.ts')),
  );
  if (stray.length > 0)
    throw new Error(`the tarball holds what a user does not run: ${stray.slice(0, 5).join(', ')}`);

  fs.mkdirSync(path.join(app, 'src'), { recursive: true });
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2),
  );
  const dev = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).devDependencies;
  log(`installing ${tarball} into ${app}`);
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', path.join(tmp, tarball)]);
  const installKb = duKb(path.join(app, 'node_modules'));
  const packages = fs.readdirSync(
    path.join(app, 'node_modules/.package-lock.json') ? path.join(app, 'node_modules') : app,
  );
  const lock = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/.package-lock.json'), 'utf8'));
  const installed = Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/'));
  log(
    `install: ${(installKb / 1024).toFixed(1)} MiB in node_modules, ${installed.length} packages (${packages.length} top-level entries)`,
  );
  run('npm', [
    'install',
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    '--silent',
    '--save-dev',
    `typescript@${dev.typescript}`,
    `@types/node@${dev['@types/node']}`,
  ]);

  const bin = path.join(app, 'node_modules/.bin/troupe');
  const help = run(process.execPath, [bin, '--help']).stdout;
  if (!help.includes('troupe serve')) throw new Error(`troupe --help says:\n${help}`);
  const helpMs = timeMs(process.execPath, [bin, '--help']);
  const versionMs = timeMs(process.execPath, [bin, '--version']);
  const nodeMs = timeMs(process.execPath, ['-e', '0']);
  log(`troupe --help ${helpMs} ms, --version ${versionMs} ms (node -e 0: ${nodeMs} ms), median of 3`);

  // The service is the README's, as a user would copy it; the client is a checking one.
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const service = /```ts file=src\/kv\.ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!service) throw new Error('README.md has no ```ts file=src/kv.ts block');
  fs.writeFileSync(path.join(app, 'src/kv.ts'), service);
  fs.copyFileSync(path.join(here, 'client.ts'), path.join(app, 'src/client.ts'));
  fs.writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2023',
          module: 'nodenext',
          strict: true,
          outDir: 'dist',
          rootDir: 'src',
          types: ['node'],
          skipLibCheck: true,
        },
        include: ['src'],
      },
      null,
      2,
    ),
  );
  const gen = run(process.execPath, [bin, 'gen', 'src/kv.ts', '--out', 'src/generated']);
  log(`troupe gen: ${gen.stdout.trim().split('\n').join('; ')} (${gen.stderr.trim()})`);
  run(process.execPath, [path.join(app, 'node_modules/typescript/bin/tsc'), '-p', '.']);
  log('tsc compiled the service, the generated stubs and the client (TC39 decorators)');
  run(process.execPath, [bin, 'keygen', 'troupe.key']);

  const ports = await freePorts(3);
  const seeds = ports.map((p) => `localhost:${p}`).join(',');
  const replicas = ports.map((port) =>
    startReplica([
      'dist/kv.js',
      '--port',
      String(port),
      '--seeds',
      seeds,
      '--key-file',
      'troupe.key',
      '--json',
    ]),
  );
  const joined = await Promise.all(replicas.map((r) => r.waitFor('joined', 60_000)));
  const startMs = joined.map((j) => j.uptimeMs);
  log(`3 replicas joined: ${joined.map((j) => `${j.self} ${j.address} pid ${j.pid}`).join(', ')}`);
  log(`replica start (process start to first view): ${startMs.join(', ')} ms`);
  const pids = Object.fromEntries(joined.map((j) => [j.self, j.pid]));
  const seedAddrs = ports.map((p) => `127.0.0.1:${p}`).join(',');
  const client = run(process.execPath, ['dist/client.js', seedAddrs, JSON.stringify(pids)], {
    timeout: 90_000,
  });
  log(`client: ${client.stdout.trim()}`);
  const killed = JSON.parse(client.stdout.trim().split('\n').at(-1)).contact;

  const survivors = replicas.filter((_, i) => joined[i].self !== killed);
  for (const r of survivors) r.proc.kill('SIGTERM');
  const ends = await Promise.all(survivors.map((r) => r.exited));
  if (ends.some((e) => e.code !== 0))
    throw new Error(`a replica did not stop cleanly on SIGTERM: ${JSON.stringify(ends)}`);
  if (!survivors.every((r) => r.events.some((e) => e.event === 'left')))
    throw new Error('a replica exited without leaving');
  log('SIGTERM: both survivors left the group and exited 0');
  ok = true;
} catch (e) {
  console.error(`[package] FAILED: ${e instanceof Error ? e.message : e}`);
} finally {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}
log(ok ? 'package check passed' : 'package check failed');
process.exitCode = ok ? 0 : 1;
