// A join can be called off (JoinOptions.signal): `troupe serve` does so on SIGTERM/SIGINT, which
// may come while it still joins (a majority of the seeds to wait for, then the state). A member
// already in a view then leaves it, so the others install a view without it at once instead of
// suspecting it and removing it as failed.
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { JoinAbortedError } from '../../runtime/errors.js';
import { type Group, joinGroup } from '../../runtime/group/group.js';
import type { ViewChange } from '../../runtime/group/types.js';
import { udp } from '../../runtime/transport/udp.js';
import { TEST_SECURITY } from '../support/key.js';
import { until } from '../support/until.js';

const FAST = { gms: { heartbeatMs: 50, suspectMs: 400, bootstrapMs: 200, joinRetryMs: 50 } };

let groups: Group[] = [];
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.leave(500).catch(() => {})));
  groups = [];
  for (const s of sockets.splice(0)) s.close();
});

/** A bound UDP socket that answers nothing: a seed that is down. Resolves to its address. */
function deadSeed(): Promise<string> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(`127.0.0.1:${s.address().port}`)));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
}

describe('a join called off by its signal', () => {
  it('before any view: closes and rejects with JOIN_ABORTED, not at joinTimeoutMs', async () => {
    const transport = await udp({ host: '127.0.0.1' });
    // Two of three seeds down: no majority, so no view ever comes.
    const seeds = [transport.address, await deadSeed(), await deadSeed()];
    const abort = new AbortController();
    const joining = rejection(
      joinGroup('abort1', { seeds, transport, layers: FAST, signal: abort.signal, ...TEST_SECURITY }),
    );
    setTimeout(() => abort.abort(), 300);
    const start = Date.now();
    const e = await joining;
    expect(e).toBeInstanceOf(JoinAbortedError);
    expect((e as JoinAbortedError).code).toBe('JOIN_ABORTED');
    expect((e as JoinAbortedError).left).toBe(false);
    expect(Date.now() - start).toBeLessThan(5_000);
    await transport.close();
  });

  it('already aborted: rejects at once', async () => {
    const transport = await udp({ host: '127.0.0.1' });
    const e = await rejection(
      joinGroup('abort2', {
        seeds: [transport.address],
        transport,
        signal: AbortSignal.abort(),
        ...TEST_SECURITY,
      }),
    );
    expect(e).toBeInstanceOf(JoinAbortedError);
    await transport.close();
  });

  it('in a view, waiting for its state: leaves it, and the others see it leave, not fail', async () => {
    const ft = await udp({ host: '127.0.0.1' });
    // The founder has no state provider, so the joiner (which has one) waits for its state.
    const founder = await joinGroup('abort3', {
      seeds: [ft.address],
      transport: ft,
      layers: FAST,
      ...TEST_SECURITY,
    });
    groups.push(founder);
    const views: ViewChange[] = [];
    founder.on('view', (v) => views.push(v));
    const jt = await udp({ host: '127.0.0.1' });
    const abort = new AbortController();
    // The joiner's Group, before joinGroup resolves: its view is installed, its events held.
    let joining3: Group | undefined;
    const observe = {
      event: (e: { type: string; group?: unknown }) => {
        if (e.type === 'member') joining3 = e.group as Group;
      },
    };
    const joining = rejection(
      joinGroup('abort3', {
        seeds: [ft.address],
        transport: jt,
        layers: FAST,
        state: { snapshot: () => new Uint8Array(0), restore: () => {} },
        signal: abort.signal,
        observe,
        ...TEST_SECURITY,
      }),
    );
    await until(
      () => founder.view?.members.length === 2 && joining3?.view?.members.length === 2,
      5_000,
      'the joiner in the view, at both members',
    );
    const joiner = joining3!.self;
    abort.abort();
    const e = await joining;
    expect(e).toBeInstanceOf(JoinAbortedError);
    expect((e as JoinAbortedError).member).toBe(joiner);
    expect((e as JoinAbortedError).left).toBe(true);
    await until(() => founder.view?.members.length === 1, 5_000, 'a view without the joiner');
    const last = views.at(-1)!;
    expect(last.left).toStrictEqual([joiner]);
    expect(last.failed).toStrictEqual([]);
    await jt.close();
  });
});
