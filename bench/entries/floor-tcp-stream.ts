// floor: tcp stream — one loopback TCP connection between two processes carrying a bulk transfer:
// what moving large messages or a state between two members could cost at best, the floor for the
// 1 MB cast and the 64 MB state transfer entries (bench/entries/group-bulk.ts).
import { script } from '../lib/script.js';
import type { BenchContext, BenchEntry, Measurement } from '../lib/types.js';

/** Bytes of the transfer: the state transfer entry's size. */
export const STREAM_BYTES = 64 * 1024 * 1024;
const CHUNK = 1024 * 1024;

async function tcpStream(ctx: BenchContext): Promise<Measurement> {
  const [rx, tx] = [
    await ctx.procs.start(script('bench/children/tcp-stream.ts'), { name: 'stream-rx', ready: 'ready' }),
    await ctx.procs.start(script('bench/children/tcp-stream.ts'), { name: 'stream-tx', ready: 'ready' }),
  ];
  const bytes = ctx.quick ? STREAM_BYTES / 8 : STREAM_BYTES;
  const timeout = (ctx.limits.maxSeconds + 20) * 1000;
  const got = rx.request({ cmd: 'expect', bytes }, 'received', timeout);
  await tx.request({ cmd: 'send', port: rx.events[0]!.port, bytes, chunk: CHUNK }, 'sent', timeout);
  const r = await got;
  const seconds = Math.max(1e-9, r.seconds as number);
  return {
    primary: 'rate',
    rate: { value: (r.bytes as number) / seconds / 1e6, unit: 'MB/s' },
    ops: r.bytes as number,
    seconds,
    notes: { 'MB moved': Math.round((r.bytes as number) / 1e6), 'write size B': CHUNK },
  };
}

export const tcpStreamFloor: BenchEntry = {
  name: 'floor: tcp stream',
  description:
    'Two processes, one loopback TCP connection: the sender writes 64 MiB in 1 MiB writes (backpressure respected); figure = MB/s received, first byte to last.',
  run: tcpStream,
};

export default [tcpStreamFloor];
