// helper-119's review of fd4fb7d: the 3x bound held for the answer to a hello, but the hello also
// made its (possibly forged) source address one of the member's clients (`ClientLink.touch`), and
// at the next view change `pushView` sent that address the whole view, unbounded by the hello's
// bytes. A hello answered with a pad notice no longer makes its address a client.
import { describe, expect, it } from 'vitest';
import { ClientLink } from '../../runtime/rpc/client-link.js';
import { decodeClientPacket } from '../../runtime/rpc/protocol.js';

const EP = { node: 7, inc: 1 };

function bigView(n: number): { members: string[]; addresses: string[] } {
  const members = Array.from({ length: n }, (_, i) => `${(0x0a000000 + i).toString(16).padStart(8, '0')}.1`);
  const addresses = members.map((_, i) => `10.0.${i >> 8}.${i & 255}:47000`);
  return { members, addresses };
}

describe('a keyless 34-byte hello from a forged address (ClientLink)', () => {
  it('draws at most 3 times its bytes in all, view pushes included', () => {
    const sent: Array<{ to: string; bytes: Uint8Array }> = [];
    const { members, addresses } = bigView(64);
    const group = {
      self: members[0]!,
      view: { id: 5, members, addresses },
      maxDatagram: 65_000,
      sendRaw: (to: string, bytes: Uint8Array) => sent.push({ to, bytes }),
    };
    const l = new ClientLink({
      group: () => group as never,
      groupId: () => 1,
      endpoint: () => EP,
      auth: () => undefined,
      clock: () => 0,
      observe: () => ({ event: () => {} }) as never,
      guard: (fn) => fn(),
    });
    const victim = '6.6.6.6:6';
    // What Contact.onPacket does with a hello: touch, then hello.
    l.touch(victim);
    l.hello(victim, undefined, 34);
    expect(decodeClientPacket(sent[0]!.bytes, 1).packet.kind).toBe('pad');
    // A view change (Replica.onView → link.pushView(clientPushMs)).
    group.view = { id: 6, members, addresses };
    l.pushView(30_000);
    const toVictim = sent.filter((s) => s.to === victim).reduce((n, s) => n + s.bytes.length, 0);
    expect(toVictim).toBeLessThanOrEqual(3 * 34);
  });
});
