// The server of the TCP request/response floor: answers every fixed-size request with a response of
// the same size on the same connection (Nagle off). Prints {event:'ready', port}.
import net from 'node:net';
import { emit, onCommands } from 'troupe/testkit';

const SIZE = Number(process.argv[2] ?? 64);

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  const response = Buffer.alloc(SIZE, 0x72);
  let buffered = 0;
  sock.on('data', (chunk) => {
    buffered += chunk.length;
    const n = Math.floor(buffered / SIZE);
    if (n === 0) return;
    buffered -= n * SIZE;
    // Answers that arrived together go out in one write, as a real server's reply batching would.
    sock.write(n === 1 ? response : Buffer.concat(Array(n).fill(response)));
  });
  sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  emit('ready', { port: addr.port });
});
onCommands(() => {});
