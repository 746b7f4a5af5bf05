// The metrics endpoint's connections (session 25's review, left): Node's defaults held any
// number of connections, one that sends nothing for good, and one that sends its headers a byte
// at a time for 60 s: from anyone who can reach the port, a file descriptor and a parser each.
// Connections are now capped (`maxConnections`, 128: one more is answered 503 and closed), and
// a connection has `headersTimeoutMs` (10 s) for its headers and may be silent `idleTimeoutMs`
// (30 s); the live page's streams are exempt from the latter. Real sockets (FINDINGS 133).
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Observer } from '../../runtime/observe/observer.js';
import { type MetricsServer, metricsServer } from '../../runtime/observe/server.js';
import { until } from '../support/until.js';

let server: MetricsServer | undefined;
let observer: Observer | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  observer?.close();
  server = undefined;
});

/** A raw connection: what it has received, and whether the server closed it. */
async function open(port: number): Promise<{ socket: Socket; got: () => string; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let got = '';
  let closed = false;
  socket.on('data', (d) => {
    got += d.toString();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, got: () => got, closed: () => closed };
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;

describe('the metrics endpoint under many and slow connections (real sockets)', () => {
  it('holds 128 connections by default and answers one more 503, then serves again once one closes', async () => {
    observer = new Observer();
    server = await metricsServer({ observer, port: 0 });
    const port = server.port;
    const idle: Awaited<ReturnType<typeof open>>[] = [];
    for (let i = 0; i < 128; i++) idle.push(await open(port));
    const over = await open(port);
    over.socket.write(GET('/status'));
    await until(() => over.closed(), 3_000, 'the 129th connection closed');
    expect(over.got()).toMatch(/^HTTP\/1\.1 503 /);
    expect(over.got()).toContain('too many connections');
    expect(server.refusedConnections).toBe(1);
    // The held ones are served.
    idle[0]!.socket.write(GET('/status'));
    await until(() => idle[0]!.got().includes('"rssBytes"'), 3_000, 'a held connection served');
    expect(idle[0]!.got()).toMatch(/^HTTP\/1\.1 200 /);
    idle[1]!.socket.destroy();
    await until(() => idle[1]!.closed(), 1_000, 'one closed');
    await new Promise((r) => setTimeout(r, 50));
    const again = await open(port);
    again.socket.write(GET('/metrics'));
    await until(() => /^HTTP\/1\.1 200 /.test(again.got()), 3_000, 'a new connection served');
  }, 20_000);

  it('closes a connection that sends no headers, or sends them too slowly, after headersTimeoutMs', async () => {
    observer = new Observer();
    server = await metricsServer({ observer, port: 0, headersTimeoutMs: 400 });
    const silent = await open(server.port);
    const slow = await open(server.port);
    slow.socket.write('GET /status HTTP/1.1\r\n');
    const drip = setInterval(() => slow.socket.write('x-a: b\r\n'), 100);
    try {
      const started = Date.now();
      await until(() => silent.closed() && slow.closed(), 3_000, 'both closed');
      expect(Date.now() - started).toBeLessThan(2_500);
    } finally {
      clearInterval(drip);
    }
  }, 10_000);

  it('closes a connection silent for idleTimeoutMs between requests, but not a live page stream', async () => {
    observer = new Observer();
    server = await metricsServer({ observer, port: 0, idleTimeoutMs: 300, pushMs: 60_000 });
    const kept = await open(server.port);
    kept.socket.write('GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n\r\n');
    const stream = await open(server.port);
    stream.socket.write(GET('/events'));
    await until(() => kept.got().includes('"rssBytes"') && stream.got().includes('data: '), 3_000, 'answers');
    await until(() => kept.closed(), 3_000, 'the idle keep-alive connection closed');
    await new Promise((r) => setTimeout(r, 800));
    expect(stream.closed()).toBe(false);
  }, 10_000);

  it('refuses limits that are not positive integers', async () => {
    observer = new Observer();
    for (const bad of [{ maxConnections: 0 }, { headersTimeoutMs: -1 }, { idleTimeoutMs: 1.5 }])
      await expect(metricsServer({ observer, port: 0, ...bad })).rejects.toMatchObject({
        code: 'OBSERVE_BAD_OPTION',
      });
  });
});
