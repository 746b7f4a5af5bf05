/**
 * `outcome()` over a round trip longer than its first wait (test/sim/FINDINGS.md item 228). A
 * `not-found` or `pending` answer is taken only from the query it answers (a late answer to an
 * earlier query may predate a reissue), and each query waited four ticks (`retransmitMs`) for it:
 * with a longer round trip every answer came after its query was given up, and `outcome()` ended
 * in `TimeoutError` though every member answered. After a lost history that never ended a call:
 * `reissue()` does not send such a request, it asks `outcome()` (RPC seed 410360000 with
 * `--latency 100`: calls-end). An unanswered query now doubles the next one's wait.
 */
import { afterEach, expect, it } from 'vitest';
import type { Transport } from '../../runtime/transport/types.js';
import { Cluster, type Ledger } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** A client transport on `c`'s network whose every incoming packet arrives `ms` late. */
function slowTransport(c: Cluster<Ledger>, address: string, ms: number): Transport {
  const base = c.net.transport(address);
  return {
    ...base,
    onPacket(handler) {
      base.onPacket((bytes, from) => {
        setTimeout(() => handler(bytes, from), ms);
      });
    },
  };
}

it('takes the answer that comes after four ticks (a long round trip)', async () => {
  cluster = await Cluster.of(3);
  // Ticks of 20 ms (a query waited 80 ms), answers 150 ms late.
  const client = await cluster.client({ transport: slowTransport(cluster, '192.168.0.99:5000', 150) });
  const o = await client.outcome(`${client.clientId}:424242`, { timeoutMs: 3_000 });
  expect(o.status).toBe('not-found');
  expect(o.member).toBe(cluster.nodes[0]!.member.self);
});

it('still asks again at once when the round trip is short', async () => {
  cluster = await Cluster.of(3);
  const client = await cluster.client();
  const started = Date.now();
  const o = await client.outcome(`${client.clientId}:424242`, { timeoutMs: 3_000 });
  expect(o.status).toBe('not-found');
  expect(Date.now() - started).toBeLessThan(2_000);
});
