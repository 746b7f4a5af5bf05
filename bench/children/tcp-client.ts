// The client of the TCP request/response floor. {cmd:'run', port, size, outstanding, count, seconds,
// warmup} keeps `outstanding` fixed-size requests in flight on one connection until `count` requests
// completed or `seconds` passed, and reports {event:'result', ops, seconds, latencyUs} where
// latencyUs summarises the round trips (request written -> its response fully read).
import net from 'node:net';
import { emit, onCommands } from 'troupe/testkit';
import { summarize } from '../lib/stats.js';

interface Run {
  port: number;
  size: number;
  outstanding: number;
  count: number;
  seconds: number;
  warmup: number;
}

async function run(cmd: Run): Promise<void> {
  const sock = net.connect({ port: cmd.port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const request = Buffer.alloc(cmd.size, 0x71);
  // Responses come back in order on one connection: a FIFO of send times is enough.
  const sentAt: bigint[] = [];
  let head = 0;
  const samples = new Float64Array(cmd.count);
  let done = 0;
  let issued = 0;
  let buffered = 0;
  let t0 = 0n;
  const total = cmd.warmup + cmd.count;
  let deadline = Number.POSITIVE_INFINITY;
  const send = (): void => {
    sentAt.push(process.hrtime.bigint());
    issued++;
    sock.write(request);
  };
  const result = await new Promise<{ ops: number; seconds: number }>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      buffered += chunk.length;
      const now = process.hrtime.bigint();
      while (buffered >= cmd.size) {
        buffered -= cmd.size;
        const start = sentAt[head++]!;
        const i = done - cmd.warmup;
        if (i === 0) {
          t0 = start;
          deadline = Date.now() + cmd.seconds * 1000;
        }
        if (i >= 0) samples[i] = Number(now - start) / 1000;
        done++;
      }
      if (head > 4096) {
        sentAt.splice(0, head);
        head = 0;
      }
      const measured = done - cmd.warmup;
      if (done >= total || (measured > 0 && Date.now() >= deadline)) {
        resolve({ ops: Math.max(0, measured), seconds: Number(now - t0) / 1e9 });
        return;
      }
      while (issued - done < cmd.outstanding && issued < total) send();
    });
    for (let i = 0; i < Math.min(cmd.outstanding, total); i++) send();
  });
  sock.destroy();
  emit('result', { ...result, latencyUs: summarize(samples.subarray(0, result.ops)) });
}

onCommands(async (cmd) => {
  if (cmd.cmd === 'run') await run(cmd as unknown as Run);
});
emit('ready');
