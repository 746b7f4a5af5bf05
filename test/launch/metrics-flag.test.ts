/**
 * `--metrics-port` in the launcher (issue 14): a real replica process started with the flag
 * serves Prometheus metrics and its status, and logs (on by default in a replica process).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { readLaunchOptions } from '../../runtime/launch/config.js';
import { LaunchError } from '../../runtime/launch/errors.js';
import { parseKey } from '../../runtime/launch/key.js';
import { connect } from '../../runtime/rpc/index.js';
import { freePorts } from '../../testkit/ports.js';
import { ProcessHarness } from '../../testkit/processes.js';

const KEY = 'ab'.repeat(32);
const procs = new ProcessHarness();
afterAll(() => procs.stopAll());

/** The value of one Prometheus sample line, e.g. `troupe_rpc_applied_total`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('troupe serve --metrics-port', () => {
  it('reads the flags, environment and config keys, and refuses a bad log level', () => {
    expect(
      readLaunchOptions(['--metrics-port', '9464', '--metrics-host', '0.0.0.0', '--log-level', 'warn'], {})
        .options,
    ).toMatchObject({ metricsPort: 9464, metricsHost: '0.0.0.0', logLevel: 'warn' });
    expect(
      readLaunchOptions([], { TROUPE_METRICS_PORT: '0', TROUPE_LOG_LEVEL: 'silent' }).options,
    ).toMatchObject({ metricsPort: 0, logLevel: 'silent' });
    expect(() => readLaunchOptions(['--log-level', 'loud'], {})).toThrow(LaunchError);
    expect(() => readLaunchOptions(['--metrics-port', '70000'], {})).toThrow(/not a port/);
  });

  it('a replica process started with the flag serves its metrics and status, and logs', async () => {
    const [port] = await freePorts(1);
    // `0`: any free port, announced. A port found free for UDP and then listened on for TCP was
    // sometimes taken meanwhile (EADDRINUSE in session 32's CI run, under a full test run).
    const child = await procs.start('test/launch/fixtures/bank-replica.ts', {
      args: ['--json', '--port', String(port), '--metrics-port', '0'],
      env: { TROUPE_KEY: KEY },
      ready: 'joined',
      readyTimeoutMs: 30_000,
    });
    const announced = await child.waitFor('metrics');
    const url = String(announced.url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/);

    const client = await connect({ group: 'bank', seeds: [`127.0.0.1:${port}`], key: parseKey(KEY, 'KEY') });
    try {
      const bank = BankClient.connect(client);
      for (let i = 1; i <= 5; i++) await bank.deposit('alice', i);
    } finally {
      await client.close();
    }
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'troupe_group_view_members')).toBe(1);
    expect(sample(text, 'troupe_replica_apply_duration_seconds_count')).toBeGreaterThanOrEqual(5);
    const status = (await (await fetch(`${url}/status`)).json()) as { view?: { members: string[] } };
    expect(status.view?.members).toHaveLength(1);
    // Logs are on by default in a replica process: pino JSON lines on stderr.
    const logs = child.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; group?: string });
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.every((l) => l.group === 'bank' && l.level >= 30)).toBe(true);
  });
});
