#!/usr/bin/env node
// The package as a user gets it, by README.md's own words: `npm pack`, then a fresh project
// outside the repository (no tsx, no path mappings) made by running the commands of README.md's
// section "From `npm install troupe` to three replicas" as written (npm init, npm pkg set,
// tsc --init; the one substitution: `npm install troupe` installs the packed tarball, with the
// repository's TypeScript and @types/node ranges, from npm's cache), the README's ```ts file=```
// blocks written as they are (the service and the client), then the README's second command
// block run as a script (`set -m` first, as the README says): troupe gen, tsc, keygen, three
// `troupe serve`, the README's client, `kill %1 %2 %3`; the client must print what the README
// says it prints and every replica must leave. Then, beyond the README, a checking client
// (client.ts here, compiled with the README's tsconfig) calls every method kind against three
// more replicas, SIGKILLs its contact and recovers with outcome/reissue; `troupe status` with the
// same key file then asks the survivors.
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

/** Runs one command line of the README through bash, in the project. */
function sh(line, opts = {}) {
  return run('bash', ['-c', line], opts);
}

/** The fenced blocks of the README's section `title`, as { info, text }. */
function section(readme, title) {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no section '## ${title}'`);
  const end = readme.indexOf('\n## ', start + 1);
  const body = readme.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/^```(.*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: m[1].trim(), text: m[2] }));
}

/** Lines of a sh block as commands: comments and blank lines dropped, `\` continuations joined. */
function commands(text) {
  return text
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) =>
      l
        .replace(/\s+#.*$/, '')
        .replace(/^#.*$/, '')
        .trim(),
    )
    .filter((l) => l.length > 0);
}

/** Pids of processes running in `dir` (the project): what the README's script left behind. */
function processesIn(dir) {
  if (!fs.existsSync('/proc')) return [];
  const real = fs.realpathSync(dir);
  const pids = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/cwd`) === real) pids.push(Number(p));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

async function portsFree(ports) {
  for (const port of ports) {
    const free = await new Promise((res) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => res(false));
      s.bind(port, '0.0.0.0', () => s.close(() => res(true)));
    });
    if (!free) return false;
  }
  return true;
}

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
  const missing = ['package/LICENSE', 'package/README.md', 'package/package.json'].filter(
    (f) => !listing.includes(f),
  );
  if (missing.length > 0) throw new Error(`the tarball lacks ${missing.join(', ')}`);

  // The README's section, as a user follows it.
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const blocks = section(readme, 'From `npm install troupe` to three replicas');
  const shBlocks = blocks.filter((b) => b.info === 'sh');
  const files = blocks.filter((b) => b.info.startsWith('ts file='));
  if (shBlocks.length !== 2 || files.map((f) => f.info).join() !== 'ts file=src/kv.ts,ts file=src/client.ts')
    throw new Error(
      `README.md's section is no longer set-up commands, src/kv.ts, src/client.ts, run commands (got ${blocks.map((b) => b.info).join(', ')}): update .ci/package/check.mjs`,
    );
  const [setupBlock, runBlock] = shBlocks;

  // 1. The set-up commands, one by one as written; `npm install troupe` is the tarball.
  fs.mkdirSync(app);
  const dev = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).devDependencies;
  const npmFlags = '--prefer-offline --no-audit --no-fund --silent';
  const installs = {
    'npm install troupe': `npm install ${npmFlags} ${path.join(tmp, tarball)}`,
    'npm install -D typescript @types/node': `npm install ${npmFlags} -D typescript@'${dev.typescript}' @types/node@'${dev['@types/node']}'`,
  };
  let installKb = 0;
  let installed = 0;
  for (const line of commands(setupBlock.text)) {
    for (const command of line.split(' && ')) {
      if (command.startsWith('npm install') && !(command in installs))
        throw new Error(`README.md installs with '${command}': update .ci/package/check.mjs`);
      log(`README: ${command}`);
      sh(installs[command] ?? command);
      if (command === 'npm install troupe') {
        installKb = duKb(path.join(app, 'node_modules'));
        const lock = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/.package-lock.json'), 'utf8'));
        installed = Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/')).length;
      }
    }
  }
  log(`install of troupe: ${(installKb / 1024).toFixed(1)} MiB in node_modules, ${installed} packages`);
  const pkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'));
  if (pkg.type !== 'module') throw new Error(`the README's package.json is not ESM: ${JSON.stringify(pkg)}`);

  const bin = path.join(app, 'node_modules/.bin/troupe');
  const help = run(process.execPath, [bin, '--help']).stdout;
  if (!help.includes('troupe serve')) throw new Error(`troupe --help says:\n${help}`);
  const helpMs = timeMs(process.execPath, [bin, '--help']);
  const versionMs = timeMs(process.execPath, [bin, '--version']);
  const nodeMs = timeMs(process.execPath, ['-e', '0']);
  log(`troupe --help ${helpMs} ms, --version ${versionMs} ms (node -e 0: ${nodeMs} ms), median of 3`);

  // 2. The README's files as they are.
  for (const f of files) {
    const name = f.info.slice('ts file='.length);
    fs.mkdirSync(path.dirname(path.join(app, name)), { recursive: true });
    fs.writeFileSync(path.join(app, name), f.text);
  }

  // 3. The README's commands as a script. Its ports are 7001-7003; if something here holds one,
  // the same script and client run on free ports instead (said in the log).
  let script = runBlock.text;
  let clientText = fs.readFileSync(path.join(app, 'src/client.ts'), 'utf8');
  if (!(await portsFree([7001, 7002, 7003]))) {
    const free = await freePorts(3);
    log(`ports 7001-7003 are in use here: the README's script and client run on ${free.join(', ')}`);
    for (const [i, p] of free.entries()) {
      script = script.replaceAll(String(7001 + i), String(p));
      clientText = clientText.replaceAll(String(7001 + i), String(p));
    }
    fs.writeFileSync(path.join(app, 'src/client.ts'), clientText);
  }
  log('README: the run block (gen, tsc, keygen, 3 x troupe serve, node dist/client.js, kill %1 %2 %3)');
  const readmeRun = await new Promise((resolve) => {
    const proc = spawn('bash', ['-c', `set -m\n${script}`], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    // 'close' waits for the replicas too: they hold the script's stdout and stderr.
    const timer = setTimeout(() => {
      for (const pid of [proc.pid, ...processesIn(app)]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      resolve({ stdout, stderr, timedOut: true });
    }, 120_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, timedOut: false });
    });
  });
  // What the README's client says it prints (its comments): the first reply, a read and an
  // absent key, one status per replica, the lock holder's answer.
  const expected = ['1', 'hello undefined', "[ 'ok', 'ok', 'ok' ]", 'greeting'];
  const printed = readmeRun.stdout.trimEnd().split('\n').slice(-expected.length);
  const leftCount = (readmeRun.stderr.match(/ left 'kv' on SIGTERM/g) ?? []).length;
  if (readmeRun.timedOut || printed.join('\n') !== expected.join('\n') || leftCount !== 3)
    throw new Error(
      `the README's commands ${readmeRun.timedOut ? 'did not end within 120 s' : `ended ${readmeRun.code}`}; the client printed\n${readmeRun.stdout}\nexpected its last lines to be\n${expected.join('\n')}\nand 3 replicas to leave on SIGTERM (${leftCount} did); stderr:\n${readmeRun.stderr}`,
    );
  log(`the README's client printed: ${printed.join(' | ')}; the 3 replicas left on SIGTERM`);
  // Each replica kept its last view in its --data-dir (docs/protocol.md, "Membership memory").
  const dataDirs = fs.readdirSync(path.join(app, 'data'));
  const memories = dataDirs.map((d) =>
    JSON.parse(fs.readFileSync(path.join(app, 'data', d, 'membership-kv.json'), 'utf8')),
  );
  if (memories.length !== 3 || !memories.every((m) => m.group === 'kv' && m.members.includes(m.self)))
    throw new Error(
      `the replicas' --data-dir membership files are not what they should be: ${JSON.stringify(memories)}`,
    );
  log(
    `each replica's --data-dir holds its last view (${memories.map((m) => m.members.length).join(', ')} members)`,
  );

  // 4. Beyond the README: every method kind and a fail-over, with the README's tsconfig.
  fs.copyFileSync(path.join(here, 'client.ts'), path.join(app, 'src/check-client.ts'));
  run(process.execPath, [path.join(app, 'node_modules/typescript/bin/tsc')]);
  log("tsc compiled the checking client with the README's tsconfig (tsc --init)");
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
  const client = run(process.execPath, ['dist/check-client.js', seedAddrs, JSON.stringify(pids)], {
    timeout: 90_000,
  });
  log(`checking client: ${client.stdout.trim()}`);
  const killed = JSON.parse(client.stdout.trim().split('\n').at(-1)).contact;

  // The operator's view of the same group, with the same key file (troupe status read the file's
  // text as the key once, and refused every status of a group keyed by troupe keygen).
  const status = spawnSync(
    process.execPath,
    [bin, 'status', '--group', 'kv', '--seeds', seedAddrs, '--key-file', 'troupe.key', '--json'],
    { cwd: app, encoding: 'utf8', timeout: 60_000 },
  );
  const answered = status.status === 0 ? JSON.parse(status.stdout).filter((a) => a.value).length : 0;
  if (answered !== 2)
    throw new Error(
      `troupe status --key-file troupe.key exited ${status.status}, ${answered} of the 2 survivors answered:\n${status.stdout}\n${status.stderr}`,
    );
  const statusHelp = spawnSync(process.execPath, [bin, 'status', '--help'], { cwd: app, encoding: 'utf8' });
  if (statusHelp.status !== 0 || !statusHelp.stdout.startsWith('Usage: troupe status'))
    throw new Error(
      `troupe status --help exited ${statusHelp.status}: ${statusHelp.stdout}${statusHelp.stderr}`,
    );
  log('troupe status --key-file troupe.key: both survivors answered');

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
  // Whatever the README's script left running in the project (its replicas, if it failed).
  for (const pid of fs.existsSync(app) ? processesIn(app) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
log(ok ? 'package check passed' : 'package check failed');
process.exitCode = ok ? 0 : 1;
