/**
 * The HTTP endpoint a member opens when asked (`--metrics-port`): Prometheus metrics, and this
 * member's status and request traces as JSON. Binds to 127.0.0.1 unless told otherwise.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP, type Socket } from 'node:net';
import { TroupeError } from '../errors.js';
import type { Observer } from './observer.js';
import { LiveFeed, PAGE_HTML, type PeerPolling } from './page.js';

/** Options of {@link metricsServer}: what it serves, where, and who may read it. */
export interface MetricsServerOptions {
  /** The observer whose metrics, status and traces are served. */
  observer: Observer;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Bind address. Default `127.0.0.1`: reachable from this host only. */
  host?: string;
  /**
   * Show every member's status on the live page by asking them (the `status` query over the
   * client protocol, with the group key if given). Default: only this member's.
   */
  peers?: PeerPolling;
  /** How often the live page is pushed an update (ms), besides at once on a view change. Default 500. */
  pushMs?: number;
  /**
   * Further names the endpoint answers to when bound to a loopback address (where it otherwise
   * answers only `localhost` and IP literals in the `Host` header), e.g. a name a proxy on this
   * host forwards as. Bound elsewhere, every name is answered.
   */
  allowedHosts?: readonly string[];
  /**
   * Connections held at once; one more is answered 503 and closed. Default 128 (the live page's
   * viewers, at most 64, count).
   */
  maxConnections?: number;
  /** Time a connection has to send a request's headers (ms), from its start. Default 10,000. */
  headersTimeoutMs?: number;
  /**
   * Time a connection may stay silent (ms), between requests or within one, before it is
   * closed; the live page's streams are exempt (bounded by their number and unread bytes).
   * Default 30,000.
   */
  idleTimeoutMs?: number;
}

/** Live page viewers (`/events` streams) at once; more are answered 503. */
const MAX_STREAMS = 64;
/** {@link MetricsServerOptions.maxConnections}'s default. */
const MAX_CONNECTIONS = 128;
/** {@link MetricsServerOptions.headersTimeoutMs}'s default. */
const HEADERS_TIMEOUT_MS = 10_000;
/** {@link MetricsServerOptions.idleTimeoutMs}'s default. */
const IDLE_TIMEOUT_MS = 30_000;
/** What a connection past the cap is told before it is closed. */
const BUSY =
  'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 46\r\n\r\nmetrics endpoint: too many connections at once';
/** Updates a viewer may leave unread (bytes) before it is cut off. */
const MAX_UNREAD_BYTES = 1 << 20;

/**
 * Whether a request's `Host` header names this endpoint. Bound to loopback, only `localhost`, IP
 * literals and `allowed` are: a web page from another origin whose name its DNS then points at
 * 127.0.0.1 (DNS rebinding) would otherwise read `/status` and `/trace` from the browser's host,
 * which the loopback binding is meant to keep from the network. Bound to another address, the
 * endpoint is on the network anyway.
 */
export function hostAllowed(
  header: string | undefined,
  loopback: boolean,
  allowed: ReadonlySet<string>,
): boolean {
  if (!loopback || header === undefined) return true;
  let name: string;
  try {
    name = new URL(`http://${header}`).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (name.startsWith('[')) name = name.slice(1, -1);
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0 || allowed.has(name);
}

/** Whether `host` is a loopback bind address. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The path of a request target, or undefined when it is not one (`//`, garbage). */
function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://x').pathname;
  } catch {
    return undefined;
  }
}

/** A running endpoint. */
export interface MetricsServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  /** Connections refused past `maxConnections` since the start. */
  readonly refusedConnections: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format), `GET /status` (JSON: view, roles, recent view
 * changes, suspicions, slow requests, stats), `GET /trace/<requestId>` (JSON, 404 if unknown
 * here), and the live group page `GET /` fed by server-sent events from `GET /events`. Rejects with `TroupeError` `OBSERVE_LISTEN` if the port cannot be bound.
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
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const headersTimeoutMs = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  for (const [name, v] of [
    ['maxConnections', maxConnections],
    ['headersTimeoutMs', headersTimeoutMs],
    ['idleTimeoutMs', idleTimeoutMs],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 1)
      throw new TroupeError('OBSERVE_BAD_OPTION', `metrics ${name} must be a positive integer, not ${v}`);
  const streams = new Set<ServerResponse>();
  const feed = new LiveFeed(observer, options.peers, () => streams.size > 0);
  const push = () => {
    const data = `data: ${JSON.stringify(feed.snapshot())}\n\n`;
    for (const res of streams) {
      // A viewer that does not read would make us hold every update for it: cut it off.
      if (res.writableLength > MAX_UNREAD_BYTES) res.destroy();
      else res.write(data);
    }
  };
  const pusher = setInterval(() => {
    if (streams.size > 0) push();
  }, options.pushMs ?? 500);
  pusher.unref();
  const unsubscribe = observer.onChange(() => {
    feed.refresh();
    if (streams.size > 0) push();
  });
  const loopback = isLoopback(host);
  const allowed = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
  let connections = 0;
  /** Connections past the cap: told 503 and closing; a request they send goes unanswered. */
  const refused = new WeakSet<Socket>();
  let refusedConnections = 0;
  // Node's defaults held a connection that sends nothing for good (no idle timeout) and one that
  // sends headers a byte at a time for 60 s, and any number of them: each a file descriptor and
  // a parser, from anyone who can reach the port.
  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: Math.max(headersTimeoutMs, idleTimeoutMs),
      // How often Node checks the two above (its default, 30 s, would let a short one run long).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    },
    (req, res) => {
      if (refused.has(req.socket)) return;
      if (!hostAllowed(req.headers.host, loopback, allowed)) {
        json(res, 403, { error: `this endpoint does not answer to the host name in '${req.headers.host}'` });
        return;
      }
      // Parsed here, outside handle()'s catch: a target the URL parser refuses (`GET //`) used to
      // throw in the listener and end the process.
      if (req.method === 'GET' && pathOf(req.url) === '/events') {
        if (streams.size >= MAX_STREAMS) {
          res.writeHead(503, { 'retry-after': '5' });
          res.end();
          return;
        }
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
        });
        res.write(`data: ${JSON.stringify(feed.snapshot())}\n\n`);
        // A viewer may be quiet for good: the stream is bounded by MAX_STREAMS and MAX_UNREAD_BYTES.
        req.socket.setTimeout(0);
        streams.add(res);
        // The first viewer starts the peer polls: ask at once rather than at the next tick.
        if (streams.size === 1) feed.refresh();
        req.on('close', () => streams.delete(res));
        return;
      }
      handle(observer, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    },
  );
  server.timeout = idleTimeoutMs;
  // Between requests Node applies its keep-alive timeout (5 s) instead: no longer than idle.
  server.keepAliveTimeout = Math.min(5_000, idleTimeoutMs);
  server.on('connection', (socket: Socket) => {
    if (connections >= maxConnections) {
      refusedConnections++;
      refused.add(socket);
      socket.end(BUSY);
      // A peer that never closes its side would hold the descriptor on.
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    connections++;
    socket.once('close', () => connections--);
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
    get refusedConnections() {
      return refusedConnections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pusher);
        unsubscribe();
        feed.close();
        for (const res of streams) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(observer: Observer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req.url) ?? '';
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE_HTML);
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
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/trace/'.length));
    } catch {
      json(res, 400, { error: 'the request id is not URI-encoded' });
      return;
    }
    const t = observer.trace(id);
    json(res, t ? 200 : 404, t ?? { error: `no trace of ${id} at this member` });
    return;
  }
  json(res, 404, {
    error: 'not found',
    paths: ['/', '/events', '/metrics', '/status', '/trace/<requestId>'],
  });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}
