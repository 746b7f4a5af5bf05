// Both ends of the TCP stream floor. `tcp-stream.ts` listens on 127.0.0.1 and prints
// {event:'ready', port}; on {cmd:'expect', bytes} it answers {event:'received', bytes, seconds}
// once that many bytes arrived (seconds from the first byte to the last). On
// {cmd:'send', port, bytes, chunk} it connects and writes `bytes` in `chunk`-byte writes,
// respecting backpressure, then answers {event:'sent'}.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { emit, onCommands } from 'troupe/testkit';

let received = 0;
let firstMs = 0;
let lastMs = 0;
let expected = Number.POSITIVE_INFINITY;
let done: (() => void) | undefined;

const server = net.createServer((sock) => {
  sock.on('data', (chunk) => {
    const now = performance.now();
    if (received === 0) firstMs = now;
    lastMs = now;
    received += chunk.length;
    if (received >= expected) done?.();
  });
  sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => emit('ready', { port: (server.address() as net.AddressInfo).port }));

onCommands(async (cmd) => {
  if (cmd.cmd === 'expect') {
    expected = Number(cmd.bytes);
    if (received < expected) await new Promise<void>((resolve) => (done = resolve));
    emit('received', { bytes: received, seconds: (lastMs - firstMs) / 1000 });
  } else if (cmd.cmd === 'send') {
    const sock = net.connect(Number(cmd.port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const chunk = Buffer.alloc(Number(cmd.chunk), 0x53);
    for (let left = Number(cmd.bytes); left > 0; left -= chunk.length) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      if (!sock.write(piece)) await new Promise((resolve) => sock.once('drain', resolve));
    }
    await new Promise<void>((resolve) => sock.end(resolve));
    emit('sent');
  }
});
