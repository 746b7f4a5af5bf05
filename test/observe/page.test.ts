import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { metricsServer } from '../../runtime/observe/server.js';
import { connect, type TroupeClient } from '../../runtime/rpc/index.js';
import { launchChromium } from '../support/chromium.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';
import { FAST, type Observed, observedReplicas, stop } from './support.js';

/** Screenshots land here (the test's output; ignored by git). */
const OUT = join(import.meta.dirname, 'out');

let members: Observed[] = [];
let clients: TroupeClient[] = [];
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(members.map((m) => stop(m)));
  members = [];
  clients = [];
});

describe('the live group page in a real browser', () => {
  it('shows the view, then the view change within 2 s of a replica dying, without the dead member', async () => {
    const started = await observedReplicas(3);
    members = started.members;
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const host = members[0]!;
    // This member's page also asks every member for its status (the per-member table), with the
    // group key like any client of a keyed group.
    const page = await metricsServer({
      observer: host.observer,
      port: 0,
      peers: { everyMs: 500, key: TEST_SECURITY.key },
    });
    const client = await connect({ ...TEST_SECURITY, group: 'bank', seeds: started.seeds });
    clients.push(client);
    const bank = BankClient.connect(client);
    for (let k = 0; k < 30; k++) await bank.deposit('alice', 1);

    browser = await launchChromium();
    const tab = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    try {
      await tab.goto(`${page.url}/`);
      await tab.waitForFunction("document.getElementById('member-count')?.textContent === '3'", undefined, {
        timeout: 10_000,
      });
      const rows = () =>
        tab.$$eval('#members tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-member')));
      expect(new Set(await rows())).toEqual(new Set(members.map((m) => m.group.self)));
      expect(await tab.textContent('#group')).toBe('bank');
      expect(await tab.textContent('#view-id')).toBe(String(host.group.view!.id));
      // Every member answered the status query: applied counts in each row.
      await tab.waitForFunction(
        "[...document.querySelectorAll('#members tbody tr')].every((tr) => tr.children[4]?.textContent === '30' && tr.children[5]?.textContent === '0')",
        undefined,
        { timeout: 10_000 },
      );
      expect(await tab.textContent('#members tbody tr:first-child td:nth-child(3)')).toMatch(
        /^coordinator, sequencer, lock statements/,
      );
      // The handler lock moves to the member at rank 1 when it acquires it; its row says so (and
      // adds "(this page)" when that member is the one serving the page: ranks follow random ids).
      const second = members.find((m) => m.group.self === host.group.view!.members[1])!;
      await second.replica.acquire('statements');
      await tab.waitForFunction(
        `document.querySelector('#members tr[data-member="${second.group.self}"] td:nth-child(3)')?.textContent?.replace(' (this page)', '') === 'member, lock statements'`,
        undefined,
        { timeout: 5_000 },
      );
      expect(await tab.textContent('#members tbody tr:first-child td:nth-child(3)')).toBe(
        host.group.self === host.group.view!.members[0]
          ? 'coordinator, sequencer (this page)'
          : 'coordinator, sequencer',
      );

      const dead =
        members.find((m) => m !== host && m.group.view!.members[0] !== m.group.self) ?? members[2]!;
      const deadId = dead.group.self;
      members.splice(members.indexOf(dead), 1);
      const killedAt = Date.now();
      await stop(dead, true);
      await until(() => host.group.view?.members.length === 2, 10_000, 'the view without the dead member');
      const installedAt = Date.now();
      await tab.waitForFunction(
        `document.getElementById('member-count')?.textContent === '2' && !document.querySelector('#members tr[data-member="${deadId}"]')`,
        undefined,
        { timeout: 2_000 },
      );
      const shownAt = Date.now();
      expect(shownAt - installedAt).toBeLessThanOrEqual(2_000);
      // From the kill: detection (suspectMs, then the flush) and the page, within two seconds more.
      expect(shownAt - killedAt).toBeLessThanOrEqual(FAST.gms.suspectMs + 2_000);
      expect(await tab.textContent('#view-id')).toBe(String(host.group.view!.id));
      expect(await tab.textContent('#views li:first-child')).toContain(`failed ${deadId}`);
      mkdirSync(OUT, { recursive: true });
      const shot = join(OUT, 'group-page.png');
      await tab.screenshot({ path: shot, fullPage: true });
      console.log(
        `group page: view change shown ${shownAt - installedAt} ms after the serving member installed it (${shownAt - killedAt} ms after the kill); screenshot ${shot}`,
      );
    } finally {
      await page.close();
    }
  }, 90_000);
});
