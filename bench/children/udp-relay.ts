// One process of the UDP relay floor: the ordered call's four one-way hops with no protocol work.
// Roles (argv[2]): `contact` forwards a client's datagram to both members (`cast`) and answers the
// client when the `sequencer`'s copy comes back; the `sequencer` sends what it receives to the
// contact and the third member (`order`); the `third` member only receives. The client is the
// parent's `run` command in the `client` role. Commands: {cmd:'peers', client, contact,
// sequencer, third} (ports) -> {event:'peered'}; client: {cmd:'run', count, seconds, warmup} ->
// {event:'result', ops, seconds, latencyUs}.
import dgram from 'node:dgram';
import { emit, onCommands } from 'troupe/testkit';
import { summarize } from '../lib/stats.js';

const HOST = '127.0.0.1';
const role = process.argv[2] ?? 'client';
const socket = dgram.createSocket({ type: 'udp4' });
await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
let peers = { client: 0, contact: 0, sequencer: 0, third: 0 };
let onReply: (() => void) | undefined;

socket.on('message', (msg, from) => {
  if (role === 'contact') {
    if (from.port === peers.client) {
      socket.send(msg, peers.sequencer, HOST);
      socket.send(msg, peers.third, HOST);
    } else if (from.port === peers.sequencer) socket.send(msg, peers.client, HOST);
  } else if (role === 'sequencer') {
    socket.send(msg, peers.contact, HOST);
    socket.send(msg, peers.third, HOST);
  } else if (role === 'client') onReply?.();
});

async function run(count: number, seconds: number, warmup: number): Promise<void> {
  const request = Buffer.alloc(64, 0x71);
  const samples = new Float64Array(count);
  let ops = 0;
  let lost = 0;
  let t0 = 0n;
  const deadline = () => Date.now() >= end;
  let end = Number.POSITIVE_INFINITY;
  for (let i = 0; i < warmup + count; i++) {
    const start = process.hrtime.bigint();
    if (i === warmup) {
      t0 = start;
      end = Date.now() + seconds * 1000;
    }
    // Loopback does not drop, but a bench must not hang on a datagram that is: a round trip
    // without an answer in a second is counted lost and not measured.
    const answered = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      onReply = () => {
        clearTimeout(t);
        resolve(true);
      };
      socket.send(request, peers.contact, HOST);
    });
    if (!answered) lost++;
    else if (i >= warmup) samples[ops++] = Number(process.hrtime.bigint() - start) / 1000;
    if (i >= warmup && deadline()) break;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  emit('result', { ops, lost, seconds: secs, latencyUs: summarize(samples.subarray(0, ops)) });
}

onCommands(async (cmd) => {
  if (cmd.cmd === 'peers') {
    peers = cmd as unknown as typeof peers;
    emit('peered');
  } else if (cmd.cmd === 'run') await run(Number(cmd.count), Number(cmd.seconds), Number(cmd.warmup));
});
emit('ready', { port: socket.address().port });
