// A request id is `clientId:counter`, the client id 64 random bits: nothing else ties a request
// to its client (without a key, no address may: it can be forged), so knowing a client's id is
// all it takes to act in its name. A keyless `status` named them to anyone who asked: its slow
// requests (ids and client addresses), the request still applying, the divergence alarms' last
// requests. With one it read there, a stranger at its own address (it holds its own cookie) sent
// one call in the victim's id with a settled watermark far ahead: the victim's floor rose past
// every counter it will ever use, and each of its later calls was answered OUTCOME_EXPIRED and
// never ran (test/sim/FINDINGS.md item 225).
import { afterEach, describe, expect, it } from 'vitest';
import { OBSERVE_SERVICE } from '../../runtime/observe/events.js';
import { Observer } from '../../runtime/observe/observer.js';
import { decodeValue, encodeValue } from '../../runtime/rpc/codec.js';
import { decodeClientPacket } from '../../runtime/rpc/protocol.js';
import { Cluster, cookieHead, type Ledger, rawClient } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
let observer: Observer | undefined;
afterEach(async () => {
  observer?.close();
  await cluster?.close();
  cluster = observer = undefined;
});

/** The request ids a text names (`clientId:counter`, the client id in hex). */
const ids = (text: string) =>
  [...text.matchAll(/"([0-9a-f]{16}):(\d+)"/g)].map((m) => [m[1]!, m[2]!] as const);

describe('a keyless status names no client', () => {
  it("a stranger reads no client's request id in it, so it cannot wedge that client", async () => {
    observer = new Observer({ slowMs: 50 });
    cluster = await Cluster.of(1, { observe: observer });
    const victim = await cluster.client();
    // One slow call (an async method of 120 ms): the contact lists it among its slow requests.
    expect(await victim.invoke('ledger', 'slowAppend', ['slow', 120])).toBe(1);
    await cluster.settle();
    const own = observer.status(); // what the member's operator reads (metrics endpoint): all of it
    expect(JSON.stringify(own)).toContain(victim.clientId);

    // The stranger, a keyless client at its own address with its own cookie, asks `status`.
    const from = '10.6.6.6:6';
    const { send, got, gid } = rawClient(cluster, from);
    const member = cluster.nodes[0]!.member.address;
    send(
      member,
      {
        kind: 'call',
        id: 'aaaaaaaaaaaaaaaa:1',
        service: OBSERVE_SERVICE,
        method: 'status',
        args: encodeValue([]),
        mode: 'first',
      },
      cookieHead(from),
    );
    await cluster.settle();
    const reply = got.map((b) => decodeClientPacket(b, gid).packet).find((p) => p.kind === 'reply');
    expect(reply?.kind === 'reply' && reply.result.ok).toBe(true);
    const text = JSON.stringify(
      decodeValue((reply as { result: { ok: true; value: Uint8Array } }).result.value),
    );
    expect(text).toContain('slowAppend'); // the slow request is listed, under a tag of its client
    expect(text).toMatch(/"requestId":"~[0-9a-f]{8}:\d+"/);
    expect(text).not.toContain(victim.clientId);
    expect(text).not.toContain(victim.address);

    // Whatever ids it read there: one call in each one's client id, settled far ahead.
    for (const [client, counter] of ids(text))
      send(
        member,
        {
          kind: 'call',
          id: `${client}:${Number(counter) + 1_000_000}`,
          service: 'ledger',
          method: 'append',
          args: encodeValue(['squatted']),
          mode: 'first',
          settled: 2 ** 50,
        },
        cookieHead(from),
      );
    await cluster.settle();
    // The victim's next call runs (it was answered OUTCOME_EXPIRED, unrun, before).
    expect(await victim.invoke('ledger', 'append', ['mine'])).toBe(2);
    expect(cluster.nodes[0]!.instance.entries).toEqual(['slow', 'mine']);
  });

  it('names no client in the request applying, and the operator still sees it whole', async () => {
    observer = new Observer();
    cluster = await Cluster.of(1, { observe: observer });
    const victim = await cluster.client();
    const running = victim.invoke('ledger', 'slowAppend', ['slow', 300]);
    const asked = () =>
      decodeValue(
        (observer!.answer('status', encodeValue([]), true) as { ok: true; value: Uint8Array }).value,
      ) as { applying?: { requestId: string } };
    const deadline = Date.now() + 5_000;
    while (!asked().applying && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(observer.status().applying?.requestId).toContain(victim.clientId);
    const shown = asked().applying!.requestId;
    expect(shown).not.toContain(victim.clientId);
    expect(shown).toMatch(/^~[0-9a-f]{8}:\d+$/);
    expect(shown.split(':')[1]).toBe(observer.status().applying!.requestId.split(':')[1]);
    await running;
  });
});
