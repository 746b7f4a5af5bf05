import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('closed transports leave no handles: the process exits on its own', async () => {
  const child = fileURLToPath(new URL('./fixtures/exit-child.ts', import.meta.url));
  const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    // A leaked handle keeps the child alive; kill it and report instead of hanging.
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`child did not exit within 8 s (leaked handle?); output: ${out}`));
    }, 8_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
  expect(result.out).toContain('closed');
  expect(result.out).not.toContain('active resources after close');
  expect(result.code).toBe(0);
}, 10_000);
