import { describe, expect, it } from 'vitest';
import { MemoryHub } from '../../runtime/transport/memory.js';

describe('memory transport', () => {
  it('delivers sends to one address and multicasts to every other endpoint, asynchronously', async () => {
    const hub = new MemoryHub();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => hub.attach(x, 8));
    const got: string[] = [];
    for (const t of [a!, b!, c!]) t.onPacket((bytes, from) => got.push(`${t.address}<${from}:${bytes[0]}`));
    a!.send('b', new Uint8Array([1]));
    a!.multicast(new Uint8Array([2]));
    expect(got).toEqual([]);
    await new Promise((r) => setTimeout(r, 0));
    expect(got.sort()).toEqual(['b<a:1', 'b<a:2', 'c<a:2']);
  });

  it('drops oversized datagrams and anything after close, counting them', async () => {
    const hub = new MemoryHub();
    const a = hub.attach('a', 4);
    const b = hub.attach('b', 4);
    let n = 0;
    b.onPacket(() => n++);
    a.send('b', new Uint8Array(5));
    await a.close();
    a.send('b', new Uint8Array(1));
    await new Promise((r) => setTimeout(r, 0));
    expect(n).toBe(0);
    expect(a.stats().dropped).toBe(2);
  });
});
