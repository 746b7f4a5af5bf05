import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import type { Group } from '../../runtime/group/group.js';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer, type ObserverOptions } from '../../runtime/observe/observer.js';
import { type MetricsServer, metricsServer } from '../../runtime/observe/server.js';
import { joinReplica, type Replica } from '../../runtime/rpc/index.js';
import type { Transport } from '../../runtime/transport/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';

/** Fast failure detection so view changes happen within a test's patience. */
export const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

/** One observed bank replica over real UDP on 127.0.0.1, with its metrics endpoint and log lines. */
export interface Observed {
  group: Group;
  replica: Replica<Bank>;
  observer: Observer;
  server: MetricsServer;
  transport: Transport;
  lines: Record<string, unknown>[];
}

/** Starts `n` observed replicas of the bank (each with its own endpoint on a free port). */
export async function observedReplicas(
  n: number,
  seeds?: string[],
  options: ObserverOptions = {},
): Promise<{ members: Observed[]; seeds: string[] }> {
  const ts = await Promise.all(Array.from({ length: n }, () => udp({ host: '127.0.0.1' })));
  const all = seeds ?? ts.map((t) => t.address);
  const members = await Promise.all(
    ts.map(async (transport) => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) });
      const observer = new Observer({ logger, ...options });
      const { group, replica } = await joinReplica(new Bank(), 'bank', {
        ...TEST_SECURITY,
        seeds: all,
        transport,
        layers: FAST,
        validate: validateBankRequest,
        observe: observer,
      });
      const server = await metricsServer({ observer, port: 0 });
      return { group, replica, observer, server, transport, lines };
    }),
  );
  return { members, seeds: all };
}

/** Stops an observed member: endpoint, observer, then the group (leave, or silence if `crash`). */
export async function stop(m: Observed, crash = false): Promise<void> {
  await m.server.close();
  m.observer.close();
  if (crash) await m.transport.close();
  else await m.group.leave(500).catch(() => {});
}

/** Parses the Prometheus text format: metric name → label set (as `{a="b"}` text) → value. */
export function parseMetrics(text: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const [, name, labels, value] = m;
    const series = out.get(name!) ?? new Map<string, number>();
    series.set(labels ?? '', Number(value));
    out.set(name!, series);
  }
  return out;
}

/** Sum of a metric's series whose label text contains every `match` fragment. */
export function sum(metrics: Map<string, Map<string, number>>, name: string, ...match: string[]): number {
  let total = 0;
  for (const [labels, v] of metrics.get(name) ?? []) if (match.every((f) => labels.includes(f))) total += v;
  return total;
}

export async function scrape(url: string): Promise<Map<string, Map<string, number>>> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`scrape of ${url} answered ${res.status}`);
  return parseMetrics(await res.text());
}
