/**
 * A `reject` says the contact refused a call before ordering it, and carries why: an error. One
 * whose result is a value was made by no member (contact.ts sends a dispatch refusal or
 * `MESSAGE_TOO_LARGE`, both errors), yet the client ended the call on it with a `PROTOCOL` error
 * that named no request id, so the caller could neither ask what became of the call nor reissue
 * it; the call ran in the group all the same (session 42's `forge-client-cli.ts --oracle`, seed
 * 424200030 then; FINDINGS 264). Keyless, a forger on the path reads request ids: the decoder now
 * refuses such a packet, counted as malformed, and the call goes on to its real answer. And a
 * reject with an error for a call a member already said is in the order (`accepted`) is not
 * taken either: the call runs, and the caller heard it never would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { decodeClientPacket, encodeClientPacket } from '../../runtime/rpc/protocol.js';
import { DecodeError } from '../../runtime/wire/errors.js';
import { groupIdOf } from '../../runtime/wire/packet.js';
import { Cluster, type Ledger, sleep } from './support/cluster.js';

let cluster: Cluster<Ledger> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});
const gid = groupIdOf('ledger');

describe('client without a key: a forged reject that carries no error', () => {
  it('the decoder refuses a reject with a value, typed; one with an error decodes', () => {
    const ep = { node: 1, inc: 1 };
    const value = encodeClientPacket(
      { kind: 'reject', id: 'c:1', member: 'm', result: { ok: true, value: encodeValue(1) } },
      gid,
      ep,
    );
    expect(() => decodeClientPacket(value, gid)).toThrow(DecodeError);
    const error = { name: 'Error', message: 'no', code: 'BAD_REQUEST' };
    const ok = encodeClientPacket(
      { kind: 'reject', id: 'c:1', member: 'm', result: { ok: false, error } },
      gid,
      ep,
    );
    expect(decodeClientPacket(ok, gid).packet).toMatchObject({ kind: 'reject', result: { ok: false } });
  });

  it('is refused as malformed; the call ends with its real reply', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client();
    const contact = client.contactMember!;
    const v = client.view!;
    const contactAddr = v.addresses[v.members.indexOf(contact)]!;
    const requestId = client.newRequestId(); // what a forger on the path reads off the call
    const before = client.stats().malformed;
    const call = client.invoke('ledger', 'slowAppend', ['real', 150], { requestId, timeoutMs: 5000 });
    const settled = call.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await sleep(40);
    const forged = encodeClientPacket(
      {
        kind: 'reject',
        id: requestId,
        member: contact,
        result: { ok: true, value: encodeValue(666) },
      },
      gid,
      { node: 0xe, inc: 1 },
    );
    for (let i = 0; i < 3; i++) c.net.route(contactAddr, client.address, forged); // spoofed
    const r = await settled;
    expect(r).toStrictEqual({ value: 1 });
    expect(client.stats().malformed).toBeGreaterThanOrEqual(before + 3);
  });

  const forgedError = (c: Cluster<Ledger>, from: string, to: string, id: string, member: string): void => {
    const error = { name: 'BadRequestError', message: 'forged', code: 'BAD_REQUEST' };
    c.net.route(
      from,
      to,
      encodeClientPacket({ kind: 'reject', id, member, result: { ok: false, error } }, gid, {
        node: 0xe,
        inc: 1,
      }),
    );
  };

  it('one with an error, once a member said the call is in the order, is not taken', async () => {
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client();
    const contact = client.contactMember!;
    const v = client.view!;
    const contactAddr = v.addresses[v.members.indexOf(contact)]!;
    const requestId = client.newRequestId();
    const call = client
      .invoke('ledger', 'slowAppend', ['real', 300], { requestId, timeoutMs: 5000 })
      .catch((e: unknown) => e);
    await sleep(100); // ordered (the contact's `accepted` is in), not yet applied
    const stray = client.stats().stray;
    forgedError(c, contactAddr, client.address, requestId, contact);
    expect(await call).toBe(1);
    expect(client.stats().stray).toBeGreaterThan(stray);
  });

  it('one with an error before the call is in the order still ends it, typed (the keyless limit)', async () => {
    // Not a defence: what a keyless client cannot tell from its contact's refusal (a forger on
    // the path reads the request id). Checked so the rule above stays narrow.
    cluster = await Cluster.of(3);
    const c = cluster;
    const client = await c.client();
    const contact = client.contactMember!;
    const v = client.view!;
    const contactAddr = v.addresses[v.members.indexOf(contact)]!;
    const requestId = client.newRequestId();
    const call = client
      .invoke('ledger', 'slowAppend', ['real', 150], { requestId, timeoutMs: 5000 })
      .catch((e: unknown) => e);
    forgedError(c, contactAddr, client.address, requestId, contact); // before the call leaves
    const e = (await call) as { code?: string };
    expect(e.code).toBe('BAD_REQUEST');
  });
});
