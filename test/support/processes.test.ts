import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessHarness } from './processes.js';

const ECHO = 'test/support/fixtures/echo-child.ts';
const SLEEPER = 'test/support/fixtures/sleeper-child.ts';

/** True when no process with this pid exists any more (signal 0 only checks). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Gone, or a zombie (an orphan whose exit the container's init has not reaped yet): not running. */
function notRunning(pid: number): boolean {
  if (gone(pid)) return true;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? false;
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('ProcessHarness', () => {
  const procs = new ProcessHarness();
  afterEach(async () => {
    await procs.stopAll();
    for (const c of procs.children) expect(gone(c.pid), `${c.name} pid ${c.pid} still exists`).toBe(true);
  });

  it('starts a tsx child, exchanges JSON lines, and keeps non-event stdout apart', async () => {
    const echo = await procs.start(ECHO, { args: ['--flag', 'x'], ready: 'ready' });
    expect(echo.events[0]).toEqual({ event: 'ready', pid: echo.pid });
    const reply = await echo.request({ cmd: 'echo', text: 'héllo' }, 'echo');
    expect(reply).toEqual({ event: 'echo', text: 'héllo', argv: ['--flag', 'x'] });
    expect(echo.stdout).toBe('a plain line that is not an event\n');
    // Events that arrive before anyone waits are queued; non-matching ones stay queued.
    echo.send({ cmd: 'echo', text: 'a' });
    echo.send({ cmd: 'throw' });
    echo.send({ cmd: 'echo', text: 'b' });
    expect((await echo.waitFor('error')).message).toBe('handler failed');
    expect((await echo.waitFor((e) => e.event === 'echo' && e.text === 'b')).text).toBe('b');
    expect((await echo.waitFor('echo')).text).toBe('a');
    expect(echo.alive).toBe(true);
  });

  it('SIGKILLs a child by pid on demand; the pid is gone afterwards', async () => {
    const victim = await procs.start(SLEEPER, { ready: 'ready' });
    const other = await procs.start(ECHO, { ready: 'ready' });
    expect(gone(victim.pid)).toBe(false);
    const exit = await victim.kill();
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(victim.alive).toBe(false);
    expect(gone(victim.pid)).toBe(true);
    // The survivor is unaffected; waiting on the dead one fails at once instead of timing out.
    expect((await other.request({ cmd: 'echo', text: 'still here' }, 'echo')).text).toBe('still here');
    await expect(victim.waitFor('anything', 60_000)).rejects.toThrow(/exited \(signal SIGKILL\)/);
    expect(() => victim.send({ cmd: 'x' })).toThrow(/cannot send/);
  });

  it('times out a wait with the child named, and reports stderr when a child dies mid-wait', async () => {
    const echo = await procs.start(ECHO, { name: 'echo-1', ready: 'ready' });
    const t0 = Date.now();
    await expect(echo.waitFor('never', 200)).rejects.toThrow(
      new RegExp(`^echo-1 \\(pid ${echo.pid}\\): timed out after 200 ms waiting for event "never"`),
    );
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(echo.alive).toBe(true);
    const waiting = echo.waitFor('never', 10_000);
    echo.send({ cmd: 'crash' });
    await expect(waiting).rejects.toThrow(
      /exited \(code 3\) before event "never"[\s\S]*boom: asked to crash/,
    );
    expect(echo.exit).toEqual({ code: 3, signal: null });
    expect(gone(echo.pid)).toBe(true);
  });

  it('kills a child whose ready line never comes, and stopAll kills everything still running', async () => {
    await expect(procs.start(SLEEPER, { ready: 'never-ready', readyTimeoutMs: 300 })).rejects.toThrow(
      /timed out after 300 ms waiting for event "never-ready"/,
    );
    const late = procs.children.at(-1)!;
    expect(gone(late.pid)).toBe(true);
    const a = await procs.start(SLEEPER, { ready: 'ready' });
    const b = await procs.start(SLEEPER, { ready: 'ready' });
    // SIGTERM first: the sleeper reports and ignores it, so SIGKILL must follow.
    await procs.stopAll({ graceMs: 100 });
    for (const c of [a, b]) {
      expect(c.events.map((e) => e.event)).toEqual(['ready', 'sigterm']);
      expect(c.exit).toEqual({ code: null, signal: 'SIGKILL' });
      expect(gone(c.pid)).toBe(true);
    }
  });

  it('kills the children of a parent that exits without stopAll', async () => {
    const parent = await procs.start('test/support/fixtures/parent-fixture.ts', { args: ['exit'] });
    const kids = await parent.waitFor('children', 20_000);
    expect(await parent.exited).toEqual({ code: 0, signal: null });
    for (const pid of [kids.sleeper, kids.echo] as number[]) {
      await eventually(() => notRunning(pid), `child ${pid} of the exited parent to go`);
    }
  });

  it('a child on onCommands exits when its parent is SIGKILLed (its stdin closes)', async () => {
    const parent = await procs.start('test/support/fixtures/parent-fixture.ts', { args: ['wait'] });
    const kids = await parent.waitFor('children', 20_000);
    const sleeper = kids.sleeper as number;
    try {
      await parent.kill();
      await eventually(() => notRunning(kids.echo as number), 'the orphaned echo child to exit');
      // The sleeper ignores stdin by design, so nothing but a kill ends it.
      expect(notRunning(sleeper)).toBe(false);
    } finally {
      // It is no longer ours to reap (the parent died): kill it by pid so it is not left behind.
      if (!notRunning(sleeper)) process.kill(sleeper, 'SIGKILL');
    }
    await eventually(() => notRunning(sleeper), 'the orphaned sleeper to die');
  });
});
