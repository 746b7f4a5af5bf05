import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleHead, collect, heldChunks, pack } from '../../runtime/distrib/bundle.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('what a receiver holds of an announced bundle', () => {
  it('every chunk made only of the head and of files present with the same digest', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'troupe-held-'));
    dirs.push(root);
    const src = path.join(root, 'src');
    await mkdir(src);
    const a = Buffer.alloc(5000, 1);
    const b = Buffer.alloc(7000, 2);
    await writeFile(path.join(src, 'a.bin'), a);
    await writeFile(path.join(src, 'b.bin'), b);
    const blob = await pack(await collect([src]));
    const head = bundleHead(blob);
    const chunk = 1024;
    const count = Math.ceil(blob.length / chunk);
    const recv = path.join(root, 'recv');
    // Holds nothing: only the chunks wholly inside the head.
    const none = new Map(heldChunks(recv, head, chunk, blob.length));
    expect([...none.keys()]).toEqual(Array.from({ length: Math.floor(head.length / chunk) }, (_, i) => i));
    // Holds a.bin, and a b.bin of the right size but other bytes: the head and a.bin's chunks.
    await mkdir(path.join(recv, 'src'), { recursive: true });
    await writeFile(path.join(recv, 'src', 'a.bin'), a);
    await writeFile(path.join(recv, 'src', 'b.bin'), Buffer.alloc(7000, 3));
    const some = new Map(heldChunks(recv, head, chunk, blob.length));
    const aEnd = head.length + a.length;
    expect([...some.keys()]).toEqual(Array.from({ length: Math.floor(aEnd / chunk) }, (_, i) => i));
    for (const [i, bytes] of some)
      expect(Buffer.from(bytes).equals(blob.subarray(i * chunk, (i + 1) * chunk))).toBe(true);
    // Holds both: every chunk, the short last one included, byte for byte.
    await writeFile(path.join(recv, 'src', 'b.bin'), b);
    const all = new Map(heldChunks(recv, head, chunk, blob.length));
    expect(all.size).toBe(count);
    for (const [i, bytes] of all)
      expect(
        Buffer.from(bytes).equals(blob.subarray(i * chunk, Math.min(blob.length, (i + 1) * chunk))),
      ).toBe(true);
    // A catalog that is not a bundle head holds nothing (and does not throw).
    expect(new Map(heldChunks(recv, new Uint8Array([1, 2, 3]), chunk, blob.length)).size).toBe(0);
    // A path through a file held there (src/a.bin/x: a release whose file became a directory)
    // is not held, and does not throw (a stat of it fails with ENOTDIR).
    const through = Buffer.from(JSON.stringify([{ path: 'src/a.bin/x', size: 1, sha256: '0' }]));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(through.length);
    const head2 = Buffer.concat([Buffer.from('TRDIST1\n', 'latin1'), len, through]);
    expect(() => new Map(heldChunks(recv, head2, chunk, head2.length + 1))).not.toThrow();
  });
});
