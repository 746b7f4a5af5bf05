import { describe, expect, it } from 'vitest';
import { coordinatorFirst, foundGroup, GmsKind, type GmsNode } from './gms-net.js';

const cast = (n: GmsNode, byte: number) =>
  n.layer.down({
    type: 'cast',
    msg: { headers: [], payload: new Uint8Array([byte]) },
    qos: { order: 'fifo' },
  });

/**
 * A flush step that times out blames only the participants that did not answer it, and those may
 * be healthy: session 22's removal class G (test/sim/removals-s22.md).
 */
describe('gms: a flush timeout spares healthy participants', () => {
  it('names a holder other than the sender on equal counts: a sender that crashes is not asked (G.2)', () => {
    // d's third cast reached e alone, and d crashes right after its Digest. The Sync named as
    // holder the first participant with the highest count, d (e's Digest came later), so a, b
    // and c asked d for the tail, never got it, and sent no FlushOk: the timeout blamed b and c
    // with d (here too few would stay to go on, so the next flush takes them back).
    const net = foundGroup(5);
    const [a, b, c, d, e] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
    let crashed = false;
    net.drop = (src, dst, h) => {
      if (src === a && dst === e && h[0] === GmsKind.Prepare) net.pause(e, 5); // e's Digest comes last
      if (src !== d || dst === d) return false;
      if (crashed) return true;
      if (h[0] === GmsKind.Digest) crashed = true; // the Digest is its last message out
      return h[0] === GmsKind.Data && h[3] === 2 && dst !== e;
    };
    for (let i = 0; i < 3; i++) cast(d, i);
    net.run(net.now + 20);
    net.add().layer.down({ type: 'join' });
    net.run(net.now + 3_000);
    expect(crashed).toBe(true);
    const sync = net.sentOf(a, GmsKind.Sync)[0]!;
    expect((sync[3] as [string, number, string][]).find((x) => x[0] === d.id)).toEqual([d.id, 3, e.id]);
    for (const n of [a, b, c, e]) {
      expect(net.stopped(n)).toBe(false);
      expect(net.view(n)?.members).toEqual(expect.arrayContaining([a.id, b.id, c.id, e.id]));
      expect(net.view(n)?.members).not.toContain(d.id);
    }
  });

  it('a holder that crashed mid-flush: the heard participant that needed it is spared once (G.2)', () => {
    // d's third cast reached c and e, not a or b; c, the holder named, crashes right after its
    // Digest. b asks c, never gets the tail, and sends no FlushOk. The timeout excluded b with
    // c, though b was heard all along; a restart without c alone names a live holder.
    const net = foundGroup(5);
    const [a, b, c, d, e] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode, GmsNode, GmsNode];
    let crashed = false;
    net.drop = (src, dst, h) => {
      if (src === c && dst !== c) {
        if (crashed) return true;
        if (h[0] === GmsKind.Digest) crashed = true; // the Digest is its last message out
      }
      return src === d && (dst === a || dst === b) && h[0] === GmsKind.Data && h[3] === 2;
    };
    for (let i = 0; i < 3; i++) cast(d, i);
    net.run(net.now + 20);
    net.add().layer.down({ type: 'join' });
    net.run(net.now + 3_000);
    expect(crashed).toBe(true);
    const sync = net.sentOf(a, GmsKind.Sync)[0]!;
    expect((sync[3] as [string, number, string][]).find((x) => x[0] === d.id)).toEqual([d.id, 3, c.id]);
    for (const n of [a, b, d, e]) {
      expect(net.stopped(n)).toBe(false);
      expect(net.view(n)?.members).toEqual(expect.arrayContaining([a.id, b.id, d.id, e.id]));
      expect(net.view(n)?.members).not.toContain(c.id);
    }
  });

  it('a coordinator stopped for most of the step gives the step that time again (G.3)', () => {
    // a is paused 30..232 ms into the Prepare step (300 ms), and b's Prepare and its first resend
    // are lost. a's last stall was 68 ms before the deadline, so the local-stall rule did not put
    // the judgement off, and the next resend was due after the deadline: b was excluded, though
    // a, not b, had been away for two thirds of the step (seed 144400234 of session 22).
    const net = foundGroup(3);
    const [a, b, c] = coordinatorFirst(net) as [GmsNode, GmsNode, GmsNode];
    let lost = 0;
    net.drop = (src, dst, h) => {
      if (src !== a || dst !== b || h[0] !== GmsKind.Prepare || lost >= 2) return false;
      if (lost++ === 0) net.at(net.now + 30, () => net.pause(a, 202));
      return true;
    };
    const j = net.add();
    j.layer.down({ type: 'join' });
    net.run(net.now + 3_000);
    expect(lost).toBe(2);
    expect(net.stats(a).flushDeferred).toBeGreaterThan(0);
    for (const n of [a, b, c, j]) {
      expect(net.stopped(n)).toBe(false);
      expect(net.view(n)?.members).toHaveLength(4);
    }
  });
});
