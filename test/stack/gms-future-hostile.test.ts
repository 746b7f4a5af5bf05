import { describe, expect, it } from 'vitest';
import { heldBytes as held } from '../support/heap.js';
import { FAST, GmsKind, GmsNet, type GmsNode } from './gms-net.js';

describe('gms: messages of a later view from strangers, with their bulk in headers', () => {
  it.each([
    ['the headers of the layers above', (junk: Uint8Array, h: unknown[]) => [[junk], h]],
    ['the gms header itself, past its fields', (junk: Uint8Array, h: unknown[]) => [[...h, junk]]],
  ])('holds about maxFutureBytes / 4, bulk in %s', (_where, headersOf) => {
    // The future buffer counts a message as its payload plus 64 bytes; a stranger's Data of the
    // next view with an empty payload and 30 KB in its headers counted 64 bytes and held 30 KB
    // (a bin in a header is a view into the datagram, which stays alive with it): 2,000 such
    // messages held 60 MB under a stranger share of 256 KB. The defaults (16 MiB, 100,000
    // messages) allow 65,536 of them: 4 GB of 64 KB datagrams held until the next view change.
    const maxFutureBytes = 1024 * 1024;
    const net = new GmsNet(3, { ...FAST, maxFutureBytes });
    net.found();
    const n2 = net.nodes[2] as GmsNode;
    const view = net.view(n2)!;
    const before = held();
    for (let i = 0; i < 2_000; i++) {
      const junk = new Uint8Array(30_000); // a datagram's worth, each its own buffer
      n2.layer.up({
        type: 'deliver',
        msg: { headers: headersOf(junk, [GmsKind.Data, view.id + 1, 0, i]), payload: new Uint8Array(0) },
        from: 'badbad00.1',
        cast: true,
        meta: { seq: i },
      });
    }
    const grown = held() - before;
    expect(net.stats(n2).future).toBeGreaterThan(0);
    expect(grown).toBeLessThan(maxFutureBytes);
  });
});
