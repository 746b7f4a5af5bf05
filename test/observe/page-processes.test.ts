/**
 * The live group page with replicas as users run them: three `troupe serve`-style processes
 * (the launcher, `--metrics-port`), the page of one open in a real browser, another replica
 * killed with SIGKILL. The in-process page test (page.test.ts) closes a transport; here the
 * process dies as a crashed server does, and the page must still show the view change within
 * failure detection and two seconds.
 */
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS as GMS_DEFAULTS } from '../../runtime/layers/gms/options.js';
import { freePorts } from '../../testkit/ports.js';
import { ProcessHarness } from '../../testkit/processes.js';
import { startBankReplicas } from '../launch/fixtures/start.js';
import { launchChromium } from '../support/chromium.js';

const KEY = 'cd'.repeat(32);
const procs = new ProcessHarness();
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await procs.stopAll();
});

describe('the live group page, replicas in their own processes', () => {
  it('shows a SIGKILLed replica gone within suspectMs and two seconds', async () => {
    const ports = await freePorts(6);
    const replicas = await startBankReplicas(procs, {
      ports: ports.slice(0, 3),
      key: KEY,
      extra: (i) => ['--metrics-port', String(ports[3 + i])],
      readyTimeoutMs: 30_000,
    });
    const ids = replicas.map((r) => r.events.find((e) => e.event === 'joined')!.self as string);
    const url = (await replicas[0]!.waitFor('metrics')).url as string;

    browser = await launchChromium();
    const tab = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await tab.goto(`${url}/`);
    await tab.waitForFunction("document.getElementById('member-count')?.textContent === '3'", undefined, {
      timeout: 20_000,
    });
    const dead = ids[2]!;
    const killedAt = Date.now();
    await replicas[2]!.kill('SIGKILL');
    const bound = GMS_DEFAULTS.suspectMs + 2_000;
    await tab.waitForFunction(
      `document.getElementById('member-count')?.textContent === '2' && !document.querySelector('#members tr[data-member="${dead}"]')`,
      undefined,
      { timeout: bound + 5_000 },
    );
    const shownMs = Date.now() - killedAt;
    console.log(
      `group page (processes): a SIGKILLed replica gone from the page ${shownMs} ms after the kill`,
    );
    expect(shownMs).toBeLessThanOrEqual(bound);
    expect(await tab.textContent('#views li:first-child')).toContain(`failed ${dead}`);
  }, 90_000);
});
