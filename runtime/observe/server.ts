/**
 * The HTTP endpoint a member opens when asked (`--metrics-port`): Prometheus metrics, and this
 * member's status and request traces as JSON. Binds to 127.0.0.1 unless told otherwise.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TroupeError } from '../errors.js';
import type { Observer } from './observer.js';

export interface MetricsServerOptions {
  /** The observer whose metrics, status and traces are served. */
  observer: Observer;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Bind address. Default `127.0.0.1`: reachable from this host only. */
  host?: string;
}

/** A running endpoint. */
export interface MetricsServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format), `GET /status` (JSON: view, roles, recent view
 * changes, suspicions, slow requests, stats) and `GET /trace/<requestId>` (JSON, 404 if unknown
 * here). Rejects with `TroupeError` `OBSERVE_LISTEN` if the port cannot be bound.
 *
 * @example
 * ```ts
 * const server = await metricsServer({ observer, port: 9464 });
 * // curl http://127.0.0.1:9464/metrics
 * await server.close();
 * ```
 */
export async function metricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { observer } = options;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535)
    throw new TroupeError(
      'OBSERVE_BAD_OPTION',
      `metrics port must be an integer 0–65535, not ${options.port}`,
    );
  const server = createServer((req, res) => {
    handle(observer, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new TroupeError('OBSERVE_LISTEN', `cannot listen on ${host}:${options.port}: ${e.message}`)),
    );
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(observer: Observer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/metrics') {
    const body = await observer.registry.metrics();
    res.writeHead(200, { 'content-type': observer.registry.contentType }).end(body);
    return;
  }
  if (path === '/status') {
    json(res, 200, observer.status());
    return;
  }
  if (path.startsWith('/trace/')) {
    const id = decodeURIComponent(path.slice('/trace/'.length));
    const t = observer.trace(id);
    json(res, t ? 200 : 404, t ?? { error: `no trace of ${id} at this member` });
    return;
  }
  json(res, 404, { error: 'not found', paths: ['/metrics', '/status', '/trace/<requestId>'] });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}
