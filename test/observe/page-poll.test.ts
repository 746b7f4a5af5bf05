/**
 * The live page asks the other members for their status only while someone watches it: the
 * polls were most of an idle metrics server's cost (each member answers every poller).
 */
import { describe, expect, it } from 'vitest';
import type { Observer } from '../../runtime/observe/observer.js';
import { LiveFeed } from '../../runtime/observe/page.js';

/** An observer that counts the status reads a poll starts with. */
function countingObserver() {
  const seen = { status: 0 };
  const observer = {
    status: () => {
      seen.status++;
      return { group: 'g', view: { id: 1, members: ['m'], addresses: ['127.0.0.1:9'] }, stats: {} };
    },
    latenciesSince: () => [],
    appliedCount: () => undefined,
  } as unknown as Observer;
  return { seen, observer };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('peer polling of the live page', () => {
  it('does not poll while nobody watches, and polls once someone does', async () => {
    let watched = false;
    const { seen, observer } = countingObserver();
    const feed = new LiveFeed(observer, { everyMs: 40 }, () => watched);
    try {
      await wait(300);
      expect(seen.status).toBe(0);
      watched = true;
      feed.refresh();
      await wait(300);
      expect(seen.status).toBeGreaterThan(0);
    } finally {
      feed.close();
    }
  });
});
