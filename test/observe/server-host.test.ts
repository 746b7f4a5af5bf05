// DNS rebinding (session 25's hostile-input review): a page of another origin whose name its DNS
// then points at 127.0.0.1 makes the browser send that name as `Host` to the loopback endpoint;
// answered, the page reads the member's status and traces. A loopback endpoint answers only
// `localhost`, IP literals and the names it is told.
import { request } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { Observer } from '../../runtime/observe/observer.js';
import { hostAllowed, type MetricsServer, metricsServer } from '../../runtime/observe/server.js';

let server: MetricsServer | undefined;
let observer: Observer | undefined;
afterEach(async () => {
  await server?.close();
  observer?.close();
});

function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

it('a loopback endpoint refuses a Host that names another site, and answers its own names', async () => {
  observer = new Observer();
  server = await metricsServer({ observer, port: 0, allowedHosts: ['Replica-1.internal'] });
  const { port } = server;
  for (const path of ['/status', '/metrics', '/events', '/', '/trace/c:1'])
    expect(await get(port, path, `attacker.example:${port}`)).toBe(403);
  expect(await get(port, '/status', `127.0.0.1:${port}`)).toBe(200);
  expect(await get(port, '/status', `localhost:${port}`)).toBe(200);
  expect(await get(port, '/status', `[::1]:${port}`)).toBe(200);
  expect(await get(port, '/metrics', `replica-1.internal:${port}`)).toBe(200);
});

it('hostAllowed: names and literals, and any name when not bound to loopback', () => {
  const none = new Set<string>();
  expect(hostAllowed('127.0.0.1:9464', true, none)).toBe(true);
  expect(hostAllowed('10.1.2.3', true, none)).toBe(true);
  expect(hostAllowed('app.localhost:9464', true, none)).toBe(true);
  expect(hostAllowed('evil.example', true, none)).toBe(false);
  expect(hostAllowed('127.0.0.1.evil.example', true, none)).toBe(false);
  expect(hostAllowed('a b', true, none)).toBe(false);
  expect(hostAllowed(undefined, true, none)).toBe(true);
  expect(hostAllowed('evil.example', false, none)).toBe(true);
});
