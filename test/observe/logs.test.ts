import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { createLogger } from '../../runtime/observe/logger.js';
import { Observer } from '../../runtime/observe/observer.js';
import { connect, type TroupeClient } from '../../runtime/rpc/index.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';
import { type Observed, observedReplicas, stop } from './support.js';

let members: Observed[] = [];
let clients: TroupeClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(members.map((m) => stop(m)));
  members = [];
  clients = [];
});

const msgs = (m: Observed, msg: string) => m.lines.filter((l) => l.msg === msg);

describe('createLogger', () => {
  it('writes pino-format JSON lines at or above its level, with base fields', () => {
    const out: string[] = [];
    const log = createLogger({
      level: 'warn',
      write: (l) => out.push(l),
      base: { service: 'bank' },
      now: () => 7,
    });
    log.info({ member: 'a' }, 'quiet');
    log.warn({ member: 'a', view: 3 }, 'loud');
    log.fatal({}, 'worst');
    expect(out).toEqual([
      '{"level":40,"time":7,"service":"bank","member":"a","view":3,"msg":"loud"}\n',
      '{"level":60,"time":7,"service":"bank","msg":"worst"}\n',
    ]);
    expect(() => createLogger({ level: 'loud' as never })).toThrow(
      expect.objectContaining({ code: 'LOG_BAD_LEVEL' }),
    );
    const silent: string[] = [];
    createLogger({ level: 'silent', write: (l) => silent.push(l) }).fatal({}, 'x');
    expect(silent).toEqual([]);
  });
});

describe('log lines of a real replica group', () => {
  it('logs views, flushes, state transfer, suspicions and a crash, each with member and view', async () => {
    const started = await observedReplicas(2);
    members = started.members;
    await until(() => members.every((m) => m.group.view?.members.length === 2), 5_000, 'a 2-member view');
    const joined = await observedReplicas(1, started.seeds);
    members.push(...joined.members);
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const joiner = joined.members[0]!;
    await until(() => msgs(joiner, 'state transfer done').length === 1, 3_000, 'the state transfer line');
    const st = msgs(joiner, 'state transfer done')[0]!;
    expect(st).toMatchObject({ level: 30, member: joiner.group.self, view: joiner.group.view!.id });
    expect(st.bytes).toBeGreaterThan(0);

    const veteran = members[0]!;
    expect(msgs(veteran, 'flush started: casts held until the next view').length).toBeGreaterThanOrEqual(1);
    const v3 = msgs(veteran, 'view installed').find((l) => (l.members as string[]).length === 3)!;
    expect(v3).toMatchObject({ member: veteran.group.self, joined: [joiner.group.self], failed: [] });
    expect(v3.flushMs).toBeGreaterThan(0);

    const dead = members.pop()!;
    const deadId = dead.group.self;
    await stop(dead, true);
    await until(() => members.every((m) => m.group.view?.members.length === 2), 5_000, 'the crash view');
    for (const m of members) {
      const last = msgs(m, 'view installed').at(-1)!;
      expect(last).toMatchObject({ member: m.group.self, view: m.group.view!.id, failed: [deadId] });
    }
    const suspected = members.flatMap((m) => msgs(m, 'member suspected'));
    expect(suspected.length).toBeGreaterThanOrEqual(1);
    expect(suspected[0]).toMatchObject({ level: 40, suspect: deadId });
    expect(typeof suspected[0]!.view).toBe('number');
  }, 30_000);

  it('logs refused packets as counts, at most one line per period', async () => {
    const started = await observedReplicas(1, undefined, { refusedLogMs: 200 });
    members = started.members;
    const m = members[0]!;
    const sock = dgram.createSocket('udp4');
    const [host, port] = [m.group.address.split(':')[0]!, Number(m.group.address.split(':')[1])];
    const t0 = Date.now();
    for (let i = 0; i < 500; i++)
      await new Promise<void>((r) =>
        sock.send(Buffer.from([0x54, 0x52, 1, 0, 9, 9, 9, i & 0xff]), port, host, () => r()),
      );
    sock.close();
    const refusedSum = () =>
      msgs(m, 'packets refused').reduce(
        (n, l) => n + Object.values(l.refused as Record<string, number>).reduce((a, b) => a + b, 0),
        0,
      );
    await until(() => refusedSum() >= 500, 5_000, 'the refused packets to be logged');
    const elapsed = Date.now() - t0;
    const lines = msgs(m, 'packets refused');
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 1);
    expect(lines[0]).toMatchObject({ level: 40, member: m.group.self, sinceMs: 200 });
    expect(refusedSum()).toBe(500);
  });

  it('a client logs its fail-over with the request ids that were pending', async () => {
    const started = await observedReplicas(3);
    members = started.members;
    await until(() => members.every((m) => m.group.view?.members.length === 3), 5_000, 'a 3-member view');
    const lines: Record<string, unknown>[] = [];
    const observer = new Observer({ logger: createLogger({ write: (l) => lines.push(JSON.parse(l)) }) });
    const client = await connect({
      ...TEST_SECURITY,
      group: 'bank',
      seeds: started.seeds,
      observe: observer,
      contactTimeoutMs: 300,
      heartbeatMs: 50,
    });
    clients.push(client);
    const bank = BankClient.connect(client);
    await bank.deposit('a', 1);
    const contact = members.find((m) => m.group.self === client.contactMember)!;
    members.splice(members.indexOf(contact), 1);
    await stop(contact, true);
    const call = bank.deposit('a', 2).catch((e: unknown) => e);
    const err = (await call) as { code?: string; requestId?: string };
    expect(err.code).toBe('FAILOVER');
    const line = lines.find((l) => l.msg === 'contact failed')!;
    expect(line).toMatchObject({
      level: 40,
      client: client.clientId,
      contact: contact.group.self,
      reissue: false,
    });
    expect(line.requests).toEqual([err.requestId]);
  }, 30_000);
});
