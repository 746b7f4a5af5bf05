import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = path.resolve('runtime/distrib/cli.ts');

interface Child {
  proc: ChildProcess;
  out: string[];
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    out.push(...lines);
  });
  proc.stderr!.on('data', (d: Buffer) => out.push(`stderr: ${d.toString().trim()}`));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out, exited };
}

async function waitFor(c: Child, re: RegExp, ms: number): Promise<string> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const line = c.out.find((l) => re.test(l));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${re}; output: ${c.out.join(' | ')}`);
}

const children: Child[] = [];
let root = '';
/** Left by the first test for the second: the source, two filled receiver dirs, the key. */
let src = '';
let filled: string[] = [];
let key: Record<string, string> = {};
afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  if (root) await rm(root, { recursive: true, force: true });
});

describe('troupe dist over loopback UDP', () => {
  it('one sender, three receiver processes with 5% loss each: identical files, modes and mtimes', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'troupe-dist-'));
    src = path.join(root, 'src');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    const big = randomBytes(3 * 1024 * 1024 + 12_345);
    await writeFile(path.join(src, 'big.bin'), big, { mode: 0o640 });
    await writeFile(path.join(src, 'sub', 'note.txt'), 'hello\n', { mode: 0o600 });
    const mtime = new Date('2024-01-02T03:04:05Z');
    await utimes(path.join(src, 'big.bin'), mtime, mtime);
    const env = { TROUPE_KEY: randomBytes(32).toString('hex') };
    key = env;
    const dirs = [1, 2, 3].map((i) => path.join(root, `r${i}`));
    filled = dirs.slice(0, 2);
    // One receiver already holds the small file: it is left alone, not rewritten.
    await mkdir(path.join(dirs[2]!, 'src', 'sub'), { recursive: true });
    await writeFile(path.join(dirs[2]!, 'src', 'sub', 'note.txt'), 'hello\n', { mode: 0o600 });
    const receivers = dirs.map((d) =>
      start(['receive', '--dir', d, '--to', 'distgrp', '--once', '--drop', '0.05'], env),
    );
    children.push(...receivers);
    const addrs = await Promise.all(
      receivers.map(async (r) => (await waitFor(r, /^listening /, 90_000)).split(' ')[1]!),
    );
    const sender = start([src, '--to', 'distgrp', '--seeds', addrs.join(',')], env);
    children.push(sender);
    const code = await Promise.race([
      sender.exited,
      new Promise<null>((r) => setTimeout(() => r(null), 120_000).unref()),
    ]);
    expect(code, sender.out.join('\n')).toBe(0);
    const summaries = sender.out.filter((l) => l.startsWith('receiver '));
    expect(summaries).toHaveLength(3);
    for (const a of addrs) expect(summaries.some((l) => l.startsWith(`receiver ${a} done`))).toBe(true);
    for (const [i, r] of receivers.entries()) {
      const line = await waitFor(r, /^received /, 30_000);
      expect(line).toContain(i === 2 ? '1 already held' : '0 already held');
      const got = await readFile(path.join(dirs[i]!, 'src', 'big.bin'));
      expect(got.equals(big)).toBe(true);
      const st = await stat(path.join(dirs[i]!, 'src', 'big.bin'));
      expect(st.mode & 0o777).toBe(0o640);
      expect(st.mtimeMs).toBe(mtime.getTime());
      expect(await readFile(path.join(dirs[i]!, 'src', 'sub', 'note.txt'), 'utf8')).toBe('hello\n');
    }
  }, 240_000);

  it('a long-lived receiver takes transfer after transfer, and what all hold is not sent again', async () => {
    expect(filled, 'needs the first test').toHaveLength(2);
    const receivers = filled.map((d) => start(['receive', '--dir', d, '--to', 'distgrp'], key));
    children.push(...receivers);
    const addrs = await Promise.all(
      receivers.map(async (r) => (await waitFor(r, /^listening /, 90_000)).split(' ')[1]!),
    );
    const push = async (): Promise<string> => {
      // A loaded machine answers announces slowly: wait for both to join.
      const sender = start(
        [src, '--to', 'distgrp', '--seeds', addrs.join(','), '--join-window', '20000'],
        key,
      );
      children.push(sender);
      const code = await Promise.race([
        sender.exited,
        new Promise<null>((r) => setTimeout(() => r(null), 120_000).unref()),
      ]);
      expect(code, sender.out.join('\n')).toBe(0);
      return sender.out.find((l) => l.startsWith('dist: '))!;
    };
    // Both hold everything already: every chunk is held by all, no data packet is sent.
    const again = await push();
    const count = Math.ceil((3 * 1024 * 1024 + 12_345) / 8192);
    expect(again).toMatch(/; 0 packets sent, 0 resent, \d+ held by all;/);
    // One small file changes: the big file's chunks are not sent, the change arrives.
    await writeFile(path.join(src, 'sub', 'note.txt'), 'changed\n', { mode: 0o600 });
    const changed = await push();
    const skipped = Number(/(\d+) held by all/.exec(changed)![1]);
    expect(skipped).toBeGreaterThanOrEqual(count - 2);
    for (const [i, r] of receivers.entries()) {
      await waitFor(r, /^received 1 files/, 30_000);
      expect(await readFile(path.join(filled[i]!, 'src', 'sub', 'note.txt'), 'utf8')).toBe('changed\n');
      expect(r.proc.exitCode, 'still running after two transfers').toBe(null);
      r.proc.kill('SIGTERM');
      expect(await r.exited).toBe(0);
    }
  }, 240_000);
});
