import { afterEach, describe, expect, it } from 'vitest';
import type { Replies } from '../../runtime/rpc/api.js';
import { FailoverError, InterruptedError } from '../../runtime/rpc/errors.js';
import { until } from '../support/until.js';
import { Cluster, type Ledger, type Node, reportSpans, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const totalRuns = (c: Cluster<Ledger>) => c.nodes.reduce((n, x) => n + x.instance.reportRuns, 0);

describe('handler locks', () => {
  it('a free lock belongs to the lowest-ranked member, which alone runs the handler and answers', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ seeds: [cluster.nodes[2]!.member.address] });
    const lowest = cluster.group.view.members[0]!;
    const requestId = client.newRequestId();
    const answer = (await client.invoke('ledger', 'report', [5], { requestId })) as string;
    expect(answer.startsWith(`${lowest}:`)).toBe(true);
    await cluster.settle();
    expect(totalRuns(cluster)).toBe(1);
    expect(cluster.nodes[0]!.instance.reportRuns).toBe(1);
    // Every replica recorded the outcome through the ordered completion record.
    for (const n of cluster.nodes)
      expect(n.replica.outcome(requestId)).toMatchObject({ status: 'committed', value: answer });
  });

  it('all-mode handler calls get one entry per member, all carrying the holder’s result', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client();
    const r = (await client.invoke('ledger', 'report', [1], { reply: 'all' })) as Replies<string>;
    expect(r.entries.map((e) => e.status)).toStrictEqual(['ok', 'ok', 'ok']);
    expect(new Set(r.entries.map((e) => (e as { value: string }).value)).size).toBe(1);
    expect(totalRuns(cluster)).toBe(1);
  });

  it('acquire and release are ordered: the acquirer runs the handlers, then the lock returns to the rule', async () => {
    cluster = await Cluster.of(3);
    const holder = cluster.nodes[1]!;
    await holder.replica.acquire('reports');
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.replica.holder('reports')).toBe(holder.member.self);
    const client = await cluster.client();
    expect(((await client.invoke('ledger', 'report', [1])) as string).startsWith(holder.member.self)).toBe(
      true,
    );
    expect(holder.instance.reportRuns).toBe(1);
    holder.replica.release('reports');
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.replica.holder('reports')).toBe(cluster.nodes[0]!.member.self);
  });

  /**
   * A call of `reports` running at `from` when `move` hands the lock to `to`; then a second call.
   * Each call answers from its holder, and the second run begins only after the first ended.
   * Returns the first run's span.
   */
  async function moveWhileRunning(
    from: Node<Ledger>,
    to: Node<Ledger>,
    move: () => void,
  ): Promise<{ end: number }> {
    reportSpans.length = 0;
    const client = await cluster!.client({ seeds: [cluster!.nodes[0]!.member.address] });
    const first = client.invoke('ledger', 'report', [300]);
    await until(() => from.instance.reportRuns > 0, 5_000, 'the holder running the first call');
    move();
    await until(
      () => cluster!.nodes.every((n) => n.replica.holder('reports') === to.member.self),
      5_000,
      'the move applied',
    );
    const second = client.invoke('ledger', 'report', [1]);
    expect(((await first) as string).startsWith(from.member.self)).toBe(true);
    expect(((await second) as string).startsWith(to.member.self)).toBe(true);
    const [run1, run2] = reportSpans;
    expect(reportSpans).toHaveLength(2);
    expect(run2!.start).toBeGreaterThanOrEqual(run1!.end);
    return run1!;
  }

  it('a lock acquired while its earlier holder runs a call of it: the acquirer waits for that run', async () => {
    // Handlers of one lock run one at a time. The lock moved at once, so the acquirer ran the
    // next call (and its acquire resolved) while the earlier holder was still running its own.
    cluster = await Cluster.of(3);
    const [a, b] = cluster.nodes;
    let acquiredAt = Number.NaN;
    let acquired: Promise<void> | undefined;
    const run1 = await moveWhileRunning(a!, b!, () => {
      acquired = b!.replica.acquire('reports').then(() => {
        acquiredAt = performance.now();
      });
    });
    await acquired;
    expect(acquiredAt).toBeGreaterThanOrEqual(run1.end);
  });

  it('a lock released while its holder runs a call of it: the next holder waits for that run', async () => {
    cluster = await Cluster.of(3);
    const [a, b] = cluster.nodes;
    await b!.replica.acquire('reports');
    await cluster.settle();
    await moveWhileRunning(b!, a!, () => b!.replica.release('reports'));
  });

  it('queues a second acquirer and hands the lock over on release', async () => {
    cluster = await Cluster.of(3);
    const [, b, c] = cluster.nodes;
    await b!.replica.acquire('reports');
    let cHolds = false;
    const cAcquired = c!.replica.acquire('reports').then(() => {
      cHolds = true;
    });
    await cluster.settle();
    expect(cHolds).toBe(false);
    b!.replica.release('reports');
    await cAcquired;
    await cluster.settle();
    for (const n of cluster.nodes) expect(n.replica.holder('reports')).toBe(c!.member.self);
  });

  it('release then acquire by the holder waits behind a member queued earlier', async () => {
    // The acquire resolved on the hold it had just released: any delivery between the
    // `acquire()` call and the release's application woke it, and the lock then passed to the
    // queued member, so both held it (session 22's review, seeds 22 and 34 of rpc --locks).
    cluster = await Cluster.of(3);
    const [a, b, c] = cluster.nodes;
    await b!.replica.acquire('reports');
    const cAcquired = c!.replica.acquire('reports');
    await cluster.settle();
    cluster.group.holdCasts(b!.member, true);
    b!.replica.release('reports');
    let bHoldsAgain = false;
    const bAcquired = b!.replica.acquire('reports').then(() => {
      bHoldsAgain = true;
    });
    // Another member's ordered cast is applied while b's release and acquire are still held.
    await a!.replica.acquire('other');
    cluster.group.holdCasts(b!.member, false);
    await cAcquired;
    await cluster.settle();
    expect(bHoldsAgain).toBe(false);
    for (const n of cluster.nodes) expect(n.replica.holder('reports')).toBe(c!.member.self);
    c!.replica.release('reports');
    await bAcquired;
    for (const n of cluster.nodes)
      await until(() => n.replica.holder('reports') === b!.member.self, 5_000, 'b holds');
  });

  it('an acquire by a member cut off before it is ordered rejects with LOCK_INTERRUPTED', async () => {
    // It never settled: the waiter stayed, and the member rejoined as a new one the acquire
    // never named (session 19's review of handler locks).
    cluster = await Cluster.of(3);
    const b = cluster.nodes[1]!;
    cluster.group.holdCasts(b.member, true);
    const acquired = b.replica.acquire('reports');
    await sleep(20);
    cluster.group.partition(b.member);
    await expect(acquired).rejects.toMatchObject({ code: 'LOCK_INTERRUPTED' });
  });

  it('moves the lock at the view change when its holder fails; its pending calls become interrupted', async () => {
    cluster = await Cluster.of(3);
    const [a, b, c] = cluster.nodes;
    await b!.replica.acquire('reports');
    await cluster.settle();
    const client = await cluster.client({ seeds: [a!.member.address] });
    // Long enough that b still runs it at the crash, however slow the machine (a fixed 40 ms
    // sleep could come before the call reached b, or after a 200 ms run had ended).
    const call = client.invoke('ledger', 'report', [1_000]);
    await until(() => b!.instance.reportRuns > 0, 5_000, 'b running the call');
    expect(b!.instance.reportRuns).toBe(1);
    cluster.group.crash(b!.member);
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as InterruptedError).code).toBe('INTERRUPTED');
    await cluster.settle();
    const id = (err as InterruptedError).requestId;
    for (const n of [a!, c!]) {
      expect(n.replica.holder('reports')).toBe(a!.member.self); // back to the rule: lowest rank
      expect(n.replica.outcome(id).status).toBe('interrupted');
    }
    const o = await client.outcome(id);
    expect(o).toMatchObject({ status: 'interrupted', settled: true });
    // Reissuing an interrupted call never runs it again.
    const again = await client.invoke('ledger', 'report', [1], { requestId: id }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(InterruptedError);
    expect(a!.instance.reportRuns + c!.instance.reportRuns).toBe(0);
    // New calls run at the new holder.
    expect(((await client.invoke('ledger', 'report', [1])) as string).startsWith(a!.member.self)).toBe(true);
  });

  it('a contact-and-holder failure during a handler call ends it (fail-over or interrupted); the outcome says interrupted', async () => {
    cluster = await Cluster.of(3);
    const client = await cluster.client({ seeds: [cluster.nodes[0]!.member.address] });
    const call = client.invoke('ledger', 'report', [1_000]);
    await until(() => cluster!.nodes[0]!.instance.reportRuns > 0, 5_000, 'the holder running the call');
    cluster.group.crash(cluster.nodes[0]!.member); // the contact is also the default holder
    const err = (await call.catch((e: unknown) => e)) as FailoverError | InterruptedError;
    // Whichever the client learns first: the contact's failure, or (asking a survivor for the
    // missing reply) the interrupted outcome.
    expect(err instanceof FailoverError || err instanceof InterruptedError).toBe(true);
    expect(await client.outcome(err.requestId)).toMatchObject({ status: 'interrupted', settled: true });
  });

  it('transfers locks and pending handler calls to a joiner', async () => {
    cluster = await Cluster.of(2);
    const b = cluster.nodes[1]!;
    await b.replica.acquire('reports');
    const client = await cluster.client();
    const requestId = client.newRequestId();
    const call = client.invoke('ledger', 'report', [80], { requestId });
    await sleep(30);
    const joiner = cluster.add();
    await call;
    await cluster.settle();
    expect(joiner.replica.holder('reports')).toBe(b.member.self);
    expect(joiner.replica.outcome(requestId).status).toBe('committed');
    expect(joiner.instance.reportRuns).toBe(0);
  });
});
