// The group stack over the TCP transport (runtime/transport/tcp.ts) on 127.0.0.1, one process:
// three members form a view and order casts identically; one member's transport is closed
// abruptly (no leave: its connections reset, like a crashed process) and the two survivors
// install a 2-member view and keep ordering; a fourth member joins and receives the state at
// its join point. Messages larger than a UDP datagram go through too (TCP's frame limit is the
// fragment size, so they travel as one frame).
import { afterEach, describe, expect, it } from 'vitest';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import type { Delivery, StateProvider } from '../../runtime/group/types.js';
import { type TcpTransport, tcp } from '../../runtime/transport/tcp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
let transports: TcpTransport[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  await Promise.all(transports.map((t) => t.close()));
  groups = [];
  transports = [];
});

async function open(n: number): Promise<TcpTransport[]> {
  const ts = await Promise.all(Array.from({ length: n }, () => tcp({ host: '127.0.0.1' })));
  transports.push(...ts);
  return ts;
}

/** A member's application: a log of payload texts (the big ones abbreviated) plus a sum. */
class App implements StateProvider {
  log: string[] = [];
  sum = 0;
  restored = false;
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ log: this.log, sum: this.sum }));
  }
  restore(state: Uint8Array): void {
    const s = JSON.parse(dec.decode(state)) as { log: string[]; sum: number };
    this.log = s.log;
    this.sum = s.sum;
    this.restored = true;
  }
  apply = (d: Delivery): void => {
    const text = d.payload.length > 1_000 ? `big:${d.payload.length}:${d.payload[0]}` : dec.decode(d.payload);
    this.log.push(text);
    if (/^\d+$/.test(text)) this.sum += Number(text);
  };
}

describe('Group over the TCP transport (one process, 127.0.0.1)', () => {
  it('orders casts, survives an abrupt close, and gives a joiner the state', async () => {
    const ts = await open(4);
    const seeds = ts.slice(0, 3).map((t) => t.address);
    const apps = [new App(), new App(), new App(), new App()];
    const members = await Promise.all(
      [0, 1, 2].map((i) =>
        joinGroup('tcp1', {
          seeds,
          transport: ts[i]!,
          layers: FAST,
          state: apps[i]!,
          on: { deliver: apps[i]!.apply },
          ...TEST_SECURITY,
        }),
      ),
    );
    groups.push(...members);
    await until(() => members.every((g) => g.view?.members.length === 3), 5_000, 'a 3-member view');
    expect(new Set(members.map((g) => g.view!.id)).size).toBe(1);

    // 1. Three members, 300 casts from all of them, plus two messages larger than a UDP datagram.
    for (let k = 1; k <= 300; k++) {
      members[k % 3]!.cast(enc.encode(String(k)));
      if (k === 100 || k === 200) members[(k + 1) % 3]!.cast(new Uint8Array(200_000).fill(k % 256));
    }
    await until(() => apps.slice(0, 3).every((a) => a.log.length === 302), 10_000, '302 deliveries each');
    expect(apps[1]!.log).toEqual(apps[0]!.log);
    expect(apps[2]!.log).toEqual(apps[0]!.log);
    expect(apps[0]!.sum).toBe((300 * 301) / 2);
    expect(apps[0]!.log.filter((t) => t.startsWith('big:200000:')).length).toBe(2);

    // 2. Member 2 "crashes": its transport closes without a leave (every TCP connection to and
    // from it resets); the survivors' reconnects to it are refused from now on.
    const victim = members[2]!;
    groups = groups.filter((g) => g !== victim);
    await ts[2]!.close();
    const survivors = members.slice(0, 2);
    await until(
      () => survivors.every((g) => g.view?.members.length === 2 && !g.view.members.includes(victim.self)),
      5_000,
      'a 2-member view without the closed member',
    );
    for (let k = 301; k <= 400; k++) survivors[k % 2]!.cast(enc.encode(String(k)));
    await until(() => apps.slice(0, 2).every((a) => a.sum === (400 * 401) / 2), 5_000, 'casts 301..400');
    expect(apps[1]!.log).toEqual(apps[0]!.log);
    // The victim's core still runs on a closed transport; stop it (its leave goes nowhere).
    await victim.leave(50);

    // 3. A fourth member joins through the survivors and gets the state at its join point, while
    // casts keep coming.
    const feeding = setInterval(() => survivors[0]!.cast(enc.encode('tick')), 5);
    let joiner: Group;
    try {
      joiner = await joinGroup('tcp1', {
        seeds: seeds.slice(0, 2),
        transport: ts[3]!,
        layers: FAST,
        state: apps[3]!,
        on: { deliver: apps[3]!.apply },
        ...TEST_SECURITY,
      });
    } finally {
      clearInterval(feeding);
    }
    groups.push(joiner);
    expect(apps[3]!.restored).toBe(true);
    expect(apps[3]!.sum).toBe((400 * 401) / 2);
    const all = [...survivors, joiner];
    await until(
      () => all.every((g) => g.view?.members.length === 3),
      5_000,
      'a 3-member view with the joiner',
    );
    for (let k = 401; k <= 500; k++) all[k % 3]!.cast(enc.encode(String(k)));
    await until(() => apps.every((a, i) => i === 2 || a.sum === (500 * 501) / 2), 5_000, 'casts 401..500');
    // Ticks still in flight have arrived once the last numbered casts have; compare whole logs.
    await until(
      () => apps[3]!.log.length === apps[0]!.log.length && apps[1]!.log.length === apps[0]!.log.length,
      5_000,
      'equal logs',
    );
    expect(apps[1]!.log).toEqual(apps[0]!.log);
    expect(apps[3]!.log).toEqual(apps[0]!.log);
    const stats = survivors[0]!.stats().transport as Record<string, number>;
    expect(stats.errors).toBeGreaterThan(0); // the resets and refused reconnects to the victim
  }, 30_000);
});
