// One member of the raw dgram floor: binds one UDP socket on 127.0.0.1, sends bounded bursts of
// fixed-size datagrams to the other peers (unicast fan-out) and counts what it receives from each.
//
// Flow control, so that overrunning a socket buffer costs little: a receiver acks cumulatively
// (every `ackEvery` datagrams from a sender, and on a short timer for the tail and for repeats, as
// acks can be dropped too); a sender keeps at
// most `window` datagrams unacked per peer. Datagrams carry no sequence number (the 1-byte ones
// cannot), so when a window stays full for `stallMs` without an ack the sender writes the
// outstanding datagrams off as lost and carries on; the parent reports loss from the final counts.
//
// Commands: {cmd:'run', peers, size, count, seconds, window, ackEvery} -> {event:'sent', ...};
// {cmd:'report', expect:{[port]: n}} -> {event:'report', ...} once those arrived or the socket idled.
import dgram from 'node:dgram';
import { emit, onCommands } from 'troupe/testkit';

const HOST = '127.0.0.1';
const DATA = 0x44; // 'D'
const ACK = 0x41; // 'A' + uint32 cumulative count
const STALL_MS = 50;
const ACK_FLUSH_MS = 2;
const ACK_REPEAT = 5;

interface FromPeer {
  received: number;
  ackedAt: number;
}
interface ToPeer {
  port: number;
  sent: number;
  acked: number;
  writtenOff: number;
}

const socket = dgram.createSocket({ type: 'udp4' });
await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
const BUF = 4 * 1024 * 1024; // clamped by the kernel to net.core.rmem_max / wmem_max
socket.setRecvBufferSize(BUF);
socket.setSendBufferSize(BUF);

const from = new Map<number, FromPeer>();
const to = new Map<number, ToPeer>();
let firstNs = 0n;
let lastNs = 0n;
let total = 0;
let ackWaiter: (() => void) | undefined;
const ackBuf = Buffer.alloc(5);

function sendAck(port: number, f: FromPeer): void {
  f.ackedAt = f.received;
  ackBuf[0] = ACK;
  ackBuf.writeUInt32BE(f.received >>> 0, 1);
  socket.send(ackBuf, port, HOST);
}

socket.on('message', (msg, rinfo) => {
  if (msg[0] === ACK) {
    const t = to.get(rinfo.port);
    if (t) t.acked = Math.max(t.acked, msg.readUInt32BE(1));
    ackWaiter?.();
    return;
  }
  const now = process.hrtime.bigint();
  if (total === 0) firstNs = now;
  lastNs = now;
  total++;
  let f = from.get(rinfo.port);
  if (!f) {
    f = { received: 0, ackedAt: 0 };
    from.set(rinfo.port, f);
  }
  f.received++;
  if (f.received - f.ackedAt >= ackEvery) sendAck(rinfo.port, f);
});

let ackEvery = 500;
// Flushes the tail (what arrived since the last ack) and, every ACK_REPEAT ticks, repeats the last ack
// anyway: acks share the socket with data, so they can be dropped when its buffer overruns.
let ticks = 0;
const ackTimer = setInterval(() => {
  const repeat = ++ticks % ACK_REPEAT === 0;
  for (const [port, f] of from) if (repeat || f.received !== f.ackedAt) sendAck(port, f);
}, ACK_FLUSH_MS);

function waitAck(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ackWaiter = undefined;
      resolve(false);
    }, ms);
    ackWaiter = () => {
      clearTimeout(timer);
      ackWaiter = undefined;
      resolve(true);
    };
  });
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function run(cmd: {
  peers: number[];
  size: number;
  count: number;
  seconds: number;
  window: number;
  ackEvery: number;
}): Promise<void> {
  ackEvery = cmd.ackEvery;
  const payload = Buffer.alloc(cmd.size, 0x2e);
  payload[0] = DATA;
  for (const port of cmd.peers) to.set(port, { port, sent: 0, acked: 0, writtenOff: 0 });
  const peers = [...to.values()];
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + cmd.seconds * 1000;
  let stalls = 0;
  for (;;) {
    let wrote = 0;
    let pending = 0;
    for (const p of peers) {
      if (p.sent >= cmd.count) continue;
      pending++;
      // A bounded burst per peer per turn, so acks get read between bursts.
      for (let n = 0; n < 64 && p.sent < cmd.count && p.sent - p.acked - p.writtenOff < cmd.window; n++) {
        socket.send(payload, p.port, HOST);
        p.sent++;
        wrote++;
      }
    }
    if (pending === 0 || Date.now() >= deadline) break;
    if (wrote > 0) await tick();
    else if (!(await waitAck(STALL_MS))) {
      stalls++;
      for (const p of peers) p.writtenOff = Math.max(p.writtenOff, p.sent - p.acked);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  emit('sent', {
    port: socket.address().port,
    sent: Object.fromEntries(peers.map((p) => [p.port, p.sent])),
    seconds,
    stalls,
  });
}

async function report(expect: Record<string, number>): Promise<void> {
  const complete = (): boolean =>
    Object.entries(expect).every(([p, n]) => (from.get(+p)?.received ?? 0) >= n);
  let seen = -1;
  // Drain: stop once everything expected arrived, or nothing arrived for 100 ms (the rest was lost).
  for (let i = 0; i < 50 && !complete() && seen !== total; i++) {
    seen = total;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  emit('report', {
    port: socket.address().port,
    received: Object.fromEntries([...from].map(([port, f]) => [port, f.received])),
    total,
    spanSeconds: Number(lastNs - firstNs) / 1e9,
    recvBuffer: socket.getRecvBufferSize(),
    sendBuffer: socket.getSendBufferSize(),
  });
}

onCommands(async (cmd) => {
  if (cmd.cmd === 'run') await run(cmd as unknown as Parameters<typeof run>[0]);
  else if (cmd.cmd === 'report') await report(cmd.expect as Record<string, number>);
  else if (cmd.cmd === 'close') {
    clearInterval(ackTimer);
    socket.close();
    emit('closed');
  }
});
emit('ready', { port: socket.address().port });
