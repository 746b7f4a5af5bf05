// `troupe dist` streams (issue 15): the sender reads its files as it sends and a receiver writes
// chunks to a part file as they come, so neither holds the bundle in memory. Measured as the
// growth of each process's peak RSS (VmHWM) from a 4 KB transfer to a 144 MB one, over real UDP
// between real processes. Holding the bundle costs at least its size (before: the sender held
// it whole, a receiver its chunks and then the assembled blob).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

const CLI = path.resolve('runtime/distrib/cli.ts');
const BIG = 144 * 1024 * 1024;

const procs: ChildProcess[] = [];
let root = '';
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  if (root) await rm(root, { recursive: true, force: true });
});

/** Runs the CLI to its exit; its output lines and its peak RSS (kB), polled from /proc. */
function run(args: string[], env: Record<string, string>, onLine?: (l: string) => void) {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  const out: string[] = [];
  let peakKb = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // exited
    }
  }, 50);
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      out.push(l);
      onLine?.(l);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => out.push(`stderr: ${d.toString().trim()}`));
  const exited = new Promise<number | null>((r) =>
    proc.on('exit', (code) => {
      clearInterval(poll);
      r(code);
    }),
  );
  return { out, exited, peakKb: () => peakKb };
}

/** One transfer of `bytes` random bytes; each side's peak RSS in MB. */
async function transfer(name: string, bytes: number): Promise<{ sender: number; receiver: number }> {
  const src = path.join(root, name);
  await mkdir(src, { recursive: true });
  const data = randomBytes(bytes);
  await writeFile(path.join(src, 'blob.bin'), data);
  const env = { TROUPE_KEY: randomBytes(32).toString('hex') };
  const dir = path.join(root, `${name}-in`);
  let address!: (a: string) => void;
  const listening = new Promise<string>((r) => {
    address = r;
  });
  const receiver = run(['receive', '--dir', dir, '--to', 'memgrp', '--once'], env, (l) => {
    if (l.startsWith('listening ')) address(l.split(' ')[1]!);
  });
  const sender = run([src, '--to', 'memgrp', '--seeds', await listening], env);
  expect(await sender.exited, sender.out.join('\n')).toBe(0);
  expect(await receiver.exited, receiver.out.join('\n')).toBe(0);
  expect((await readFile(path.join(dir, name, 'blob.bin'))).equals(data)).toBe(true);
  return { sender: sender.peakKb() / 1024, receiver: receiver.peakKb() / 1024 };
}

it('neither side of a 144 MB transfer holds it in memory: peak RSS grows by under half of it', async () => {
  root = await mkdtemp(path.join(tmpdir(), 'troupe-dist-mem-'));
  const small = await transfer('small', 4096);
  const big = await transfer('big', BIG);
  const growth = { sender: big.sender - small.sender, receiver: big.receiver - small.receiver };
  console.log(`dist peak RSS (MB): 4 KB ${JSON.stringify(small)}, 144 MB ${JSON.stringify(big)}`);
  // Streaming leaves garbage the GC takes back in its own time (about 30-50 MB measured), not a
  // copy of the bundle (before: at least its size on each side).
  expect(growth.sender).toBeLessThan(BIG / 2 / 2 ** 20);
  expect(growth.receiver).toBeLessThan(BIG / 2 / 2 ** 20);
}, 180_000);
