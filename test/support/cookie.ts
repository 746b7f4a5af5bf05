import type { Socket } from 'node:dgram';
import {
  encodeClientPacket,
  encodeHello,
  HELLO_MIN_BYTES,
  readClientPacket,
} from '../../runtime/rpc/protocol.js';
import { groupIdOf } from '../../runtime/wire/packet.js';

/**
 * A keyless member's cookie for the address of `raw` (a bound UDP socket): what a client learns
 * from the view answering its hello, asked here as a client asks. A hand-made call carries it
 * (`encodeClientPacket`'s last argument, `{ cookie }`), or the member does not serve it.
 */
export async function helloCookie(raw: Socket, group: string, to: string): Promise<Uint8Array> {
  const gid = groupIdOf(group);
  const drops = { malformed: 0, foreign: 0, unauthenticated: 0, replayed: 0 };
  const [host, port] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      raw.off('message', onMessage);
      reject(new Error(`no view with a cookie from ${to}`));
    }, 3_000);
    const onMessage = (b: Buffer) => {
      const p = readClientPacket(new Uint8Array(b), gid, undefined, drops)?.packet;
      if (p?.kind !== 'view' || !p.cookie) return;
      clearTimeout(timer);
      raw.off('message', onMessage);
      resolve(p.cookie);
    };
    raw.on('message', onMessage);
    const hello = encodeHello({ kind: 'hello', viewId: 0 }, HELLO_MIN_BYTES, (p) =>
      encodeClientPacket(p, gid, { node: 0x4321, inc: 0 }),
    );
    raw.send(hello, port, host);
  });
}
