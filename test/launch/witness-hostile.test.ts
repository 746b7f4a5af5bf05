/**
 * The launcher's join witness against a sender that changes its source address: it explains a
 * failed join from what it heard, one record and one warning per address heard misconfigured.
 */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { bankModel } from '../../examples/bank/generated/bank.model.js';
import { runReplica } from '../../runtime/launch/run.js';
import { JoinWitness } from '../../runtime/launch/witness.js';
import type { Transport } from '../../runtime/transport/types.js';
import { encodePacket, groupIdOf, PacketType } from '../../runtime/wire/packet.js';

const KEY = 'ab'.repeat(32);

/** A packet of another group: what a misconfigured peer sends, and anyone can. */
function foreign(n: number): Uint8Array {
  return encodePacket({
    type: PacketType.Stack,
    flags: 0,
    groupId: groupIdOf(`other-${n}`),
    sender: { node: n + 1, inc: 1 },
    headers: [],
    payload: new Uint8Array(0),
  });
}

describe('the join witness', () => {
  it('stops watching once the replica joined: a running replica warns nobody, keeps nothing', async () => {
    // It watched the transport for the replica's whole life: every source address that sent a
    // packet of another group (or key) was kept for good and printed a warning line. 300 such
    // datagrams from 300 source ports at a running replica printed 300 lines; the rate is the
    // sender's, the memory and log grow without end, key or not.
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const r = await runReplica(new Bank(), bankModel, {
      argv: ['--port', '0'],
      env: { TROUPE_KEY: KEY },
      handleSignals: false,
      json: true,
    });
    const sockets: dgram.Socket[] = [];
    process.stderr.write = ((s: string) => lines.push(String(s)) > 0) as typeof process.stderr.write;
    try {
      const port = Number(r.transport.address.split(':')[1]);
      for (let i = 0; i < 300; i++) {
        const s = dgram.createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
        s.send(foreign(i), port, '127.0.0.1');
      }
      await new Promise((ok) => setTimeout(ok, 500));
    } finally {
      process.stderr.write = write;
      for (const s of sockets) s.close();
      await r.stop();
    }
    expect(lines.filter((l) => l.startsWith('troupe: warning')).length).toBe(0);
  }, 20_000);

  it('keeps at most 256 addresses, and warns of at most as many, while joining', () => {
    const warned: string[] = [];
    const w = new JoinWitness('bank', KEY, (address) => warned.push(address));
    let handler: (bytes: Uint8Array, from: string) => void = () => {};
    w.watch({ onPacket: (h: typeof handler) => (handler = h) } as unknown as Transport).onPacket(() => {});
    for (let i = 0; i < 5_000; i++) handler(foreign(i), `127.0.0.1:${1 + i}`);
    expect(warned.length).toBeLessThanOrEqual(256);
    // A seed heard first is still named.
    expect(w.explain(['127.0.0.1:1'], '127.0.0.1:9999')).toContain(
      '127.0.0.1:1 sends packets for another group',
    );
    expect(w.explain([], '127.0.0.1:9999').length).toBeLessThan(40_000);
  });
});
