// The plumbing of the multi-host tests: ProcessHarness children inside a network namespace
// (`ip netns exec`) are killed by their own pid; a wrapper that forks is refused; a machine
// without `ip` gets an error naming it.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createNamespace, listNamespaces, type Namespace } from '../support/netns.js';
import { ProcessHarness } from '../support/processes.js';

const ECHO = 'test/support/fixtures/echo-child.ts';
let procs = new ProcessHarness();
let ns: Namespace | undefined;
afterEach(async () => {
  await procs.stopAll();
  procs = new ProcessHarness();
  const left = ns?.destroy() ?? [];
  ns = undefined;
  expect(left).toEqual([]);
});

const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

describe('processes in network namespaces', () => {
  it('a child under ip netns exec is node itself: its pid is the one killed, and nothing survives', async () => {
    ns = createNamespace('troupe-h');
    const child = await procs.start(ECHO, { wrapper: ns.wrapper, ready: 'ready', readyTimeoutMs: 30_000 });
    expect(child.events.find((e) => e.event === 'ready')!.pid).toBe(child.pid);
    expect(ns.pids()).toEqual([child.pid]);
    expect((await child.request({ cmd: 'echo', text: 'hi' }, 'echo')).text).toBe('hi');
    expect(await child.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(gone(child.pid)).toBe(true);
    expect(ns.pids()).toEqual([]);
    const name = ns.name;
    expect(ns.destroy()).toEqual([]);
    expect(listNamespaces()).not.toContain(name);
  }, 30_000);

  it('a wrapper that forks node is refused, and both processes are killed', async () => {
    // sh runs node in the background and waits: node's pid is not the spawned one.
    const wrapper = ['/bin/sh', '-c', '"$@" & wait', 'sh'];
    const err = await procs
      .start(ECHO, { wrapper, ready: 'ready', readyTimeoutMs: 30_000 })
      .catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      /forked \(node is pid (\d+), spawned pid (\d+)\); it must exec node/,
    );
    const [, nodePid, shPid] = (err as Error).message
      .match(/node is pid (\d+), spawned pid (\d+)/)!
      .map(Number);
    expect(procs.children[0]!.alive).toBe(false);
    expect(gone(shPid!)).toBe(true);
    // node was reparented when sh died; its new parent reaps it shortly after the SIGKILL.
    for (const end = Date.now() + 2_000; !gone(nodePid!) && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 20));
    expect(gone(nodePid!)).toBe(true);
  }, 30_000);

  it("without iproute2 the set-up fails with a message naming 'ip', never a skip", () => {
    const script =
      "import { createLan } from './testkit/netns.ts';" +
      'try { createLan({ hosts: 2 }); console.log("created"); } catch (e) { console.log(e.name + ": " + e.message); }';
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, PATH: '/nonexistent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stdout.trim()).toBe(
      "NetnsUnavailable: the 'ip' command (iproute2) is missing or broken: spawnSync ip ENOENT; install iproute2 (apt-get install iproute2)",
    );
  }, 30_000);
});
