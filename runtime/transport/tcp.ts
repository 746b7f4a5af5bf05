import net from 'node:net';
import { steadyNow } from '../clock.js';
import { formatAddress, isWildcard, parseAddress } from './address.js';
import { TransportError } from './errors.js';
import { encodeFrame, FRAME_HEADER, FrameDecoder } from './framing.js';
import { resolveHost } from './resolve.js';
import type { Transport, TransportStats } from './types.js';
import { localAddresses } from './udp.js';

/** Options for {@link tcp}. */
export interface TcpOptions {
  /** Listen address; also the host part of `address`. Default `127.0.0.1`. */
  host?: string;
  /** Listen port; `0` picks an ephemeral port. Default `0`. */
  port?: number;
  /**
   * Largest frame payload sent or accepted. A peer announcing a larger frame is disconnected
   * (the claimed size is never allocated). Default 64 MiB + 64 KiB: a 64 MiB message plus
   * the stack's headers.
   */
  maxFrame?: number;
  /** Bytes buffered per peer (unsent queue or socket buffer) before sends to it are dropped. Default 128 MiB. */
  maxQueueBytes?: number;
  /**
   * Bytes buffered over all peers at once (unsent queues and socket buffers) before a send to a
   * peer that already holds more than {@link BACKLOG_CHECK_BYTES} is dropped. `maxQueueBytes`
   * bounds each peer and `maxOutbound` their number, not their product: 1,024 peers that stop
   * reading hold 128 GiB. Default 4 × `maxQueueBytes`.
   */
  maxBufferedBytes?: number;
  /** First reconnect delay in ms; doubles per failed attempt, with jitter. Default 50. */
  reconnectBaseMs?: number;
  /** Longest reconnect delay in ms. Default 2,000. */
  reconnectMaxMs?: number;
  /** Failed connects in a row after which a peer's queue is dropped (and counted). Default 20. */
  maxReconnectAttempts?: number;
  /** Time allowed for a connect to complete, in ms. Default 5,000. */
  connectTimeoutMs?: number;
  /**
   * A frame begun on an incoming connection must be whole within this many ms, or the connection
   * is dropped: a peer may not make us hold a partial frame (up to `maxFrame`) for ever. Default
   * 30,000 (a 64 MiB frame at 2.2 MB/s).
   */
  frameStallMs?: number;
  /** Incoming connections at once; past it the one silent longest is closed (and counted). Default 1,024. */
  maxInbound?: number;
  /**
   * Bytes of partial frames held over all incoming connections at once; past it the connection
   * holding the most is dropped (and counted). `frameStallMs` bounds each one's time, `maxFrame`
   * its size, `maxInbound` their number, but not their product: 1,024 connections each a byte short
   * of a 64 MiB frame are 64 GiB. Default 4 × `maxFrame`.
   */
  maxPartialBytes?: number;
  /**
   * Peers we keep an outgoing connection (or its queue and reconnect timer) to at once; past it
   * the one sent to least recently is closed (its queue dropped and counted). Default 1,024.
   * Every address a connector names in its hello is one we answer at: without this bound a
   * process on a peer's host naming a new port on each connection made us hold a socket for each.
   */
  maxOutbound?: number;
}

/** {@link TransportStats} plus connection-level counters. */
export interface TcpStats extends TransportStats {
  /** Connection failures and socket errors (ECONNREFUSED, ECONNRESET, EPIPE, timeouts, bad hellos). */
  errors: number;
}

/** A TCP {@link Transport}; `stats()` also reports connection errors. */
export interface TcpTransport extends Transport {
  stats(): TcpStats;
}

const DEFAULT_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024;
/**
 * The hello is the first frame on every connection (see {@link tcp}). Until it arrives the
 * connector is unidentified, so it may not make us buffer more than this.
 */
const HELLO_LIMIT = 512;
const HELLO_MAGIC = 'troupe-tcp/1 ';
const HELLO_TIMEOUT_MS = 10_000;

/**
 * Opens a TCP transport: a server on `host:port` plus one outgoing connection per peer,
 * opened lazily on the first `send` and re-opened with exponential backoff when it fails.
 * Messages are length-framed (4-byte big-endian length, then payload).
 *
 * Connections are one-way: we only write on connections we opened and only read on ones we
 * accepted. Because a connection's source port is ephemeral, the connector's first frame is
 * a hello carrying its *listening* address (`troupe-tcp/1 host:port`); every later frame on
 * that connection is delivered with that address as `from`, so replies reach the peer's
 * server, exactly as with UDP.
 *
 * Delivery is best effort, like a datagram transport: frames queued or in flight when a
 * connection breaks may be lost, and the stack above retransmits. Nothing throws after setup;
 * drops and errors are counted in `stats()`. Frames are copied on send, so callers may reuse
 * their buffers at once.
 *
 * @example
 * ```ts
 * const a = await tcp();
 * const b = await tcp();
 * b.onPacket((bytes, from) => console.log(from === a.address)); // true
 * a.send(b.address, new TextEncoder().encode('hi'));
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export async function tcp(options: TcpOptions = {}): Promise<TcpTransport> {
  const host = options.host ?? '127.0.0.1';
  const maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
  if (!Number.isInteger(maxFrame) || maxFrame < 1 || maxFrame > 0xffff_ffff) {
    throw new TransportError('TRANSPORT_OPTION', `maxFrame must be an integer in 1..2^32-1, got ${maxFrame}`);
  }
  const maxPartialBytes = options.maxPartialBytes ?? 4 * maxFrame;
  // Below maxFrame, a frame of maxFrame bytes could never be received whole.
  if (!(Number.isInteger(maxPartialBytes) && maxPartialBytes >= maxFrame))
    throw new TransportError(
      'TRANSPORT_OPTION',
      `maxPartialBytes must be an integer of at least maxFrame (${maxFrame}), got ${maxPartialBytes}`,
    );
  const maxOutbound = options.maxOutbound ?? 1_024;
  if (!(Number.isSafeInteger(maxOutbound) && maxOutbound >= 1))
    throw new TransportError(
      'TRANSPORT_OPTION',
      `maxOutbound must be a positive integer, got ${maxOutbound}`,
    );
  // A name is resolved as seeds are (IPv4 first): listen() would take the resolver's first
  // answer (::1 before 127.0.0.1 for `localhost` on many hosts), and a member must be its seed.
  const bindHost = net.isIP(host) ? host : await resolveHost(host).catch(() => host);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) => {
      reject(
        new TransportError(
          'TRANSPORT_BIND',
          `cannot listen on TCP ${host}:${options.port ?? 0}: ${cause.message}`,
          {
            cause,
          },
        ),
      );
    });
    server.listen(options.port ?? 0, bindHost, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  const maxQueueBytes = options.maxQueueBytes ?? 128 * 1024 * 1024;
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * maxQueueBytes;
  if (!(Number.isSafeInteger(maxBufferedBytes) && maxBufferedBytes >= maxQueueBytes))
    throw new TransportError(
      'TRANSPORT_OPTION',
      `maxBufferedBytes must be an integer of at least maxQueueBytes (${maxQueueBytes}), got ${maxBufferedBytes}`,
    );
  return new Tcp(server, formatAddress(bound.address, bound.port), {
    maxFrame,
    maxQueueBytes,
    maxBufferedBytes,
    reconnectBaseMs: options.reconnectBaseMs ?? 50,
    reconnectMaxMs: options.reconnectMaxMs ?? 2_000,
    maxReconnectAttempts: options.maxReconnectAttempts ?? 20,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    frameStallMs: options.frameStallMs ?? 30_000,
    maxInbound: options.maxInbound ?? 1_024,
    maxPartialBytes,
    maxOutbound,
  });
}

type Settings = Required<Omit<TcpOptions, 'host' | 'port'>>;

/**
 * A peer holding more than this many bytes unsent has the total over all peers checked before
 * more is buffered for it (`maxBufferedBytes`).
 */
export const BACKLOG_CHECK_BYTES = 1024 * 1024;

/** The total buffered over all peers is summed again at most this often (ms). */
const BACKLOG_SUM_MS = 20;

/** Our side of the connection to one peer. */
interface Outbound {
  host: string;
  port: number;
  state: 'idle' | 'connecting' | 'open' | 'backoff';
  socket: net.Socket | undefined;
  /** Frames waiting for the connection; bounded by `maxQueueBytes`. */
  queue: Buffer[];
  queued: number;
  /** Consecutive failed connects. */
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** When we last sent to it ({@link Tcp.sends} then): the least recent goes past `maxOutbound`. */
  used: number;
}

class Tcp implements TcpTransport {
  readonly maxDatagram: number;
  /** Bound to the wildcard: every local `ip:port` (as UDP's). */
  readonly aliases?: readonly string[];
  private peers: readonly string[] = [];
  private handler: ((bytes: Uint8Array, from: string) => void) | undefined;
  private readonly counters: TcpStats = { sent: 0, received: 0, dropped: 0, errors: 0 };
  private readonly outbound = new Map<string, Outbound>();
  /** Sends so far: the clock of {@link Outbound.used}. */
  private sends = 0;
  /** What all peers held unsent at the last sum (plus what was buffered since), and when. */
  private buffered = 0;
  private bufferedAt = Number.NEGATIVE_INFINITY;
  /**
   * Incoming connections: since when each holds part of a frame (if it does), when it last sent,
   * and how many bytes of a frame in progress it holds.
   */
  private readonly inbound = new Map<
    net.Socket,
    { partialSince: number | undefined; lastData: number; held: number }
  >();
  /** The sum of the inbound connections' `held`: bounded by `maxPartialBytes`. */
  private held = 0;
  /** Drops incoming connections whose partial frame is older than `frameStallMs`. */
  private stallSweep: NodeJS.Timeout | undefined;
  private readonly hello: Buffer;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly server: net.Server,
    readonly address: string,
    private readonly settings: Settings,
  ) {
    this.maxDatagram = settings.maxFrame;
    const port = parseAddress(address)?.port;
    if (isWildcard(address) && port !== undefined)
      this.aliases = localAddresses().map((a) => formatAddress(a, port));
    this.hello = encodeFrame(Buffer.from(HELLO_MAGIC + address, 'utf8'));
    server.on('error', () => {
      this.counters.errors++;
    });
    server.on('connection', (socket) => this.accept(socket));
  }

  multicast(bytes: Uint8Array): void {
    const frame = this.frame(bytes);
    if (!frame) return;
    // A wildcard-bound member is in views at one of its aliases (gms writes the seed among them).
    for (const peer of this.peers)
      if (peer !== this.address && !this.aliases?.includes(peer)) this.sendFrame(peer, frame);
  }

  send(to: string, bytes: Uint8Array): void {
    const frame = this.frame(bytes);
    if (frame) this.sendFrame(to, frame);
  }

  setPeers(addresses: readonly string[]): void {
    this.peers = [...addresses];
  }

  onPacket(handler: (bytes: Uint8Array, from: string) => void): void {
    this.handler = handler;
  }

  stats(): TcpStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    if (this.closed) return this.closed;
    clearInterval(this.stallSweep);
    const sockets = [...this.inbound.keys()];
    for (const out of this.outbound.values()) {
      clearTimeout(out.timer);
      if (out.socket) sockets.push(out.socket);
      out.queue = [];
    }
    this.outbound.clear();
    this.inbound.clear();
    // Resolve only once every handle is really gone, so a caller that awaits close() can exit
    // or rebind the port straight away.
    const gone = sockets.map((socket) => {
      const done = socket.closed
        ? Promise.resolve()
        : new Promise<void>((r) => socket.once('close', () => r()));
      socket.destroy();
      return done;
    });
    gone.push(new Promise((resolve) => this.server.close(() => resolve())));
    this.closed = Promise.all(gone).then(() => undefined);
    return this.closed;
  }

  /** Encodes once per call so a fan-out multicast shares one buffer across peers. */
  private frame(bytes: Uint8Array): Buffer | undefined {
    if (this.closed || bytes.length > this.settings.maxFrame) {
      this.counters.dropped++;
      return undefined;
    }
    return encodeFrame(bytes);
  }

  private sendFrame(to: string, frame: Buffer): void {
    let out = this.outbound.get(to);
    if (!out) {
      const target = parseAddress(to);
      if (!target) {
        this.counters.dropped++;
        return;
      }
      if (this.outbound.size >= this.settings.maxOutbound) this.evictOutbound();
      out = {
        ...target,
        state: 'idle',
        socket: undefined,
        queue: [],
        queued: 0,
        failures: 0,
        timer: undefined,
        used: 0,
      };
      this.outbound.set(to, out);
    }
    out.used = ++this.sends;
    const { maxQueueBytes } = this.settings;
    if (!this.fitsOverall(out, frame.length)) {
      this.counters.dropped++;
      return;
    }
    if (out.state === 'open' && out.socket) {
      // Node buffers writes without limit; bound that buffer so a stalled (half-open) peer
      // cannot grow our memory until keepalive notices it is gone.
      if (out.socket.writableLength + frame.length > maxQueueBytes) {
        this.counters.dropped++;
        return;
      }
      // Frames written to one peer in the same tick leave in one writev, not a syscall each.
      if (out.socket.writableCorked === 0) {
        const socket = out.socket;
        socket.cork();
        process.nextTick(() => socket.uncork());
      }
      out.socket.write(frame);
      this.counters.sent++;
      return;
    }
    if (out.queued + frame.length > maxQueueBytes) {
      this.counters.dropped++;
      return;
    }
    out.queue.push(frame);
    out.queued += frame.length;
    if (out.state === 'idle') this.connect(out);
  }

  /**
   * Whether `bytes` more to `out` keep what all peers hold within `maxBufferedBytes`. Summed over
   * every peer only for one already holding more than {@link BACKLOG_CHECK_BYTES} (a peer that
   * reads keeps little buffered), at most once per {@link BACKLOG_SUM_MS}.
   */
  private fitsOverall(out: Outbound, bytes: number): boolean {
    const held = out.queued + (out.socket?.writableLength ?? 0);
    if (held + bytes <= BACKLOG_CHECK_BYTES) return true;
    // The steady clock: a wall clock stepped back would keep a stale sum until it caught up.
    const now = steadyNow();
    if (now - this.bufferedAt >= BACKLOG_SUM_MS) {
      let total = 0;
      for (const o of this.outbound.values()) total += o.queued + (o.socket?.writableLength ?? 0);
      this.buffered = total;
      this.bufferedAt = now;
    }
    if (this.buffered + bytes > this.settings.maxBufferedBytes) return false;
    // Counted until the next sum: frames sent meanwhile are not lost to it.
    this.buffered += bytes;
    return true;
  }

  /**
   * Closes the outgoing connection sent to least recently, with its queue and timer: peers a
   * member talks to are sent to every heartbeat, addresses named once are not.
   */
  private evictOutbound(): void {
    let oldest: [string, Outbound] | undefined;
    for (const entry of this.outbound) if (!oldest || entry[1].used < oldest[1].used) oldest = entry;
    if (!oldest) return;
    const [to, out] = oldest;
    this.outbound.delete(to);
    clearTimeout(out.timer);
    out.timer = undefined;
    this.counters.dropped += out.queue.length;
    out.queue = [];
    out.queued = 0;
    const socket = out.socket;
    out.socket = undefined; // its close is then no reconnect (disconnected)
    socket?.destroy();
  }

  private connect(out: Outbound): void {
    out.state = 'connecting';
    out.timer = undefined;
    // From our own address when bound to one: the receiver checks that a hello's claimed host
    // is the one the connection comes from.
    const own = isWildcard(this.address) ? undefined : parseAddress(this.address)?.host;
    // Same family only: a member bound to ::1 still reaches one at 127.0.0.1 (unchecked, below).
    const bind = own !== undefined && net.isIP(out.host) !== 0 && net.isIP(own) === net.isIP(out.host);
    const socket = net.connect({ host: out.host, port: out.port, ...(bind ? { localAddress: own } : {}) });
    out.socket = socket;
    socket.setNoDelay(true);
    // Covers only the connect: an unreachable host would otherwise hang in SYN retries.
    socket.setTimeout(this.settings.connectTimeoutMs, () => socket.destroy(new Error('connect timeout')));
    socket.on('error', () => {
      this.counters.errors++;
    });
    socket.once('connect', () => {
      socket.setTimeout(0);
      // Keepalive turns a silently vanished peer (half-open connection) into an error.
      socket.setKeepAlive(true, 5_000);
      out.state = 'open';
      out.failures = 0;
      socket.write(this.hello);
      for (const frame of out.queue) socket.write(frame);
      this.counters.sent += out.queue.length;
      out.queue = [];
      out.queued = 0;
    });
    // The peer never writes on our connection; reading keeps 'end'/'close' flowing.
    socket.resume();
    socket.once('close', () => this.disconnected(out, socket));
  }

  private disconnected(out: Outbound, socket: net.Socket): void {
    if (out.socket !== socket || this.closed) return;
    out.socket = undefined;
    const wasOpen = out.state === 'open';
    if (wasOpen && out.queue.length === 0) {
      // Stay lazy: reconnect when there is something to send.
      out.state = 'idle';
      return;
    }
    if (!wasOpen) out.failures++;
    if (out.failures > this.settings.maxReconnectAttempts) {
      // The peer looks gone for good; release the memory. The next send starts afresh.
      this.counters.dropped += out.queue.length;
      out.queue = [];
      out.queued = 0;
      out.failures = 0;
      out.state = 'idle';
      return;
    }
    const { reconnectBaseMs, reconnectMaxMs } = this.settings;
    const delay = Math.min(reconnectMaxMs, reconnectBaseMs * 2 ** Math.max(0, out.failures - 1));
    // Jitter keeps a restarted member from being hit by every peer at the same instant.
    out.state = 'backoff';
    out.timer = setTimeout(() => this.connect(out), delay * (0.5 + Math.random() / 2));
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.inbound.size >= this.settings.maxInbound) {
      // The longest silent goes, not the newcomer: connections that said a hello and then
      // nothing would otherwise lock every peer's reconnect out (members talk every heartbeat).
      let idlest: net.Socket | undefined;
      let at = Number.POSITIVE_INFINITY;
      for (const [s, st] of this.inbound)
        if (st.lastData < at) {
          at = st.lastData;
          idlest = s;
        }
      this.counters.dropped++;
      idlest?.destroy();
      if (idlest) this.inbound.delete(idlest);
    }
    const state = { partialSince: undefined as number | undefined, lastData: performance.now(), held: 0 };
    this.inbound.set(socket, state);
    this.armStallSweep();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    // An unidentified connection may not hold a socket open forever: its hello must be whole
    // within HELLO_TIMEOUT_MS of connecting. An idle timeout, as this was, restarts at every
    // byte: a hello sent a byte every 3 s held its connection past the 10 s (until frameStallMs).
    const helloTimer = setTimeout(() => {
      if (from !== undefined || socket.destroyed) return;
      this.counters.errors++;
      socket.destroy();
    }, HELLO_TIMEOUT_MS);
    helloTimer.unref();
    const decoder = new FrameDecoder(HELLO_LIMIT - FRAME_HEADER);
    let from: string | undefined;
    let framed = false;
    const onFrame = (payload: Buffer): void => {
      framed = true;
      if (socket.destroyed) return;
      if (from !== undefined) {
        this.deliver(payload, from);
        return;
      }
      const text = payload.toString('utf8');
      const claimed = text.startsWith(HELLO_MAGIC) ? text.slice(HELLO_MAGIC.length) : '';
      if (!parseAddress(claimed)) {
        this.counters.errors++;
        socket.destroy();
        return;
      }
      // A peer listening on the wildcard claims 0.0.0.0:p, which is no address to reach it at
      // (nor a seed's): it listens at the address its connection comes from.
      const hp = parseAddress(claimed)!;
      const remote = socket.remoteAddress?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
      // A hello naming another host than the connection's is refused: taken as the sender's
      // address, it let anyone who can connect speak as any member of an insecure group
      // (com's address check compares with it), as only spoofing a source address does over UDP.
      // A member's address is an IP literal (its server's), so a name is no hello's; an
      // IPv4-mapped IPv6 address is compared as the IPv4 address it reaches. Taken as of
      // another family, either went unchecked, and the member answered (connected) anywhere.
      const host = mappedIPv4(hp.host) ?? hp.host;
      const sameFamily = remote !== undefined && net.isIP(remote) === net.isIP(host);
      if (net.isIP(host) === 0 || (!isWildcard(claimed) && sameFamily && host !== remote)) {
        this.counters.errors++;
        socket.destroy();
        return;
      }
      from = isWildcard(claimed) && remote ? formatAddress(remote, hp.port) : claimed;
      clearTimeout(helloTimer);
      decoder.setLimit(this.settings.maxFrame);
    };
    socket.on('data', (chunk: Buffer) => {
      if (socket.destroyed) return;
      if (!decoder.push(chunk, onFrame)) {
        // A length we will not accept: the stream cannot be resynchronised, so drop the peer.
        this.counters.dropped++;
        socket.destroy();
        return;
      }
      this.held += decoder.held - state.held;
      state.held = decoder.held;
      if (this.held > this.settings.maxPartialBytes) this.shed();
      if (socket.destroyed) return;
      state.lastData = performance.now();
      // A frame completed in this chunk restarts the clock for the next one.
      if (!decoder.partial) state.partialSince = undefined;
      else if (state.partialSince === undefined || framed) state.partialSince = performance.now();
      framed = false;
    });
    socket.on('error', () => {
      this.counters.errors++;
    });
    socket.once('close', () => {
      clearTimeout(helloTimer);
      this.held -= state.held;
      state.held = 0;
      this.inbound.delete(socket);
    });
  }

  /**
   * Partial frames hold more than `maxPartialBytes`: the connections holding the most are dropped
   * until they do not. Before this bound, 8 connections each sending 63 of a 64 MiB frame held
   * 528 MB at a member for up to `frameStallMs`, keyed or not (the key is checked only on whole
   * packets), and 1,024 of them could hold 64 GiB. A member's own large frame may be cut too:
   * the stack resends it, as after any broken connection.
   */
  private shed(): void {
    while (this.held > this.settings.maxPartialBytes) {
      let largest: net.Socket | undefined;
      let most = 0;
      for (const [s, st] of this.inbound)
        if (st.held > most) {
          most = st.held;
          largest = s;
        }
      if (!largest) return;
      const st = this.inbound.get(largest)!;
      this.held -= st.held;
      st.held = 0;
      this.counters.dropped++;
      largest.destroy();
    }
  }

  private armStallSweep(): void {
    if (this.stallSweep) return;
    const every = Math.max(10, Math.floor(this.settings.frameStallMs / 4));
    this.stallSweep = setInterval(() => {
      const old = performance.now() - this.settings.frameStallMs;
      for (const [socket, s] of this.inbound)
        if (s.partialSince !== undefined && s.partialSince < old) {
          this.counters.dropped++;
          socket.destroy();
        }
    }, every);
    this.stallSweep.unref();
  }

  private deliver(bytes: Uint8Array, from: string): void {
    if (!this.handler) {
      this.counters.dropped++;
      return;
    }
    this.counters.received++;
    this.handler(bytes, from);
  }
}

/**
 * The IPv4 address an IPv4-mapped IPv6 literal reaches (`::ffff:a.b.c.d` in any spelling: dotted,
 * hex, expanded), else undefined. The text is normalised by the URL parser first: matching one
 * spelling let `[::ffff:7f00:2]` pass as another family (helper-119's review).
 */
export function mappedIPv4(host: string): string | undefined {
  if (!net.isIPv6(host)) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname;
  } catch {
    return undefined;
  }
  const m = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(canonical);
  if (!m) return undefined;
  const [hi, lo] = [Number.parseInt(m[1]!, 16), Number.parseInt(m[2]!, 16)];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}
