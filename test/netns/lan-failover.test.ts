// Multi-host fail-over: 3 bank replicas in 3 network namespaces (IP multicast on the bridge),
// a non-member client process in a 4th keeping deposits in flight; its contact replica, on
// another host, is SIGKILLed. The calls in flight reject with FailoverError; outcome() says
// committed or not-found; each is reissued once; the balance shows every deposit applied exactly
// once. Needs root and iproute2 (fails, never skips, without).
import { describe, expect, it } from 'vitest';
import { audit, balances, startBank, startClient, useLan, viewOf } from './bank-lan.js';

const ctx = useLan(4);

describe('fail-over across hosts (network namespaces, a bridge)', () => {
  it('SIGKILL of the contact: FailoverError, outcome committed/not-found, reissue, exactly once', async () => {
    const { replicas, seeds } = await startBank(ctx, [0, 1, 2]);
    const { child: client, contact: contactId } = await startClient(ctx, 3, seeds);
    const contact = replicas.find((r) => r.self === contactId)!;
    const survivors = replicas.filter((r) => r !== contact);

    // 16 deposits of 1 to carol always in flight; the contact dies once the first is answered.
    const result = client.waitFor('failover', 25_000);
    client.send({ cmd: 'failover', account: 'carol', inFlight: 16, cap: 5_000 });
    const first = await client.waitFor('first-reply', 10_000);
    expect(first.contact).toBe(contact.self);
    const killed = Date.now();
    await contact.child.kill('SIGKILL');
    expect(contact.child.exit).toEqual({ code: null, signal: 'SIGKILL' });
    const r = await result;
    const failedOverMs = Date.now() - killed;
    console.log(`fail-over across hosts (${failedOverMs} ms after the kill): ${JSON.stringify(r)}`);

    expect(r.others).toEqual([]); // every rejection was a FailoverError
    expect(r.failovers as number).toBeGreaterThan(0);
    expect(r.unsettled).toBe(0);
    expect((r.committed as number) + (r.notFound as number)).toBe(r.failovers);
    expect(r.reissueMismatches).toBe(0); // a committed request's reissue returns its recorded reply
    expect(r.secondReissue).toBe(r.firstReissue); // reissuing again does not deposit again
    expect(survivors.map((s) => s.self)).toContain(r.contactAfter);

    // Exactly once: carol holds one unit per deposit sent, at both survivors.
    await Promise.all(survivors.map((s) => s.child.waitFor(viewOf(2, contact.self), 10_000)));
    const final = await audit(client);
    expect(final.entries.map((e) => e.member).sort()).toEqual(survivors.map((s) => s.self).sort());
    for (const e of final.entries)
      expect(e).toMatchObject({ status: 'ok', value: { total: r.sent, accounts: 1 } });
    for (const s of survivors) expect(await balances(s)).toEqual({ carol: r.sent });
  }, 30_000);
});
