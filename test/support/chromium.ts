import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { expect } from 'vitest';

/** Debian's chromium; .ci/run installs it when missing. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless as root, on a machine with no network but loopback: without the background-networking
 * and component-update flags chromium keeps opening connections the machine refuses, and looks
 * up hosts it cannot reach at every start.
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Launches Debian's chromium, failing the test with the fix when it is missing. */
export async function launchChromium(): Promise<Browser> {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(
    true,
  );
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
}
