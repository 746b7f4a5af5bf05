import { createHash, type Hash, randomBytes } from 'node:crypto';
import {
  closeSync,
  promises as fs,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { BlobSink, BlobSource } from '../bulk/afdp.js';
import { TroupeError } from '../errors.js';

/** Typed errors of `troupe dist`. */
export class DistError extends TroupeError {
  declare readonly code: 'DIST_USAGE' | 'DIST_BAD_BUNDLE' | 'DIST_UNSAFE_PATH' | 'DIST_DIGEST' | 'DIST_KEY';
}

/** One file of a bundle: where it goes, its metadata and its digest. */
export interface BundleEntry {
  /** Relative path with `/` separators, never absolute, never with `..`. */
  path: string;
  mode: number;
  mtimeMs: number;
  size: number;
  /** SHA-256 of the content, hex. */
  sha256: string;
}

const MAGIC = 'TRDIST1\n';
/** Bytes read or copied at a time: a bundle is never held whole, only this much of it. */
const SLICE = 1 << 20;

/** SHA-256 of `size` bytes read with `read`, a slice at a time. */
function hashOf(read: (offset: number, length: number, into: Uint8Array) => Uint8Array, size: number): Hash {
  const h = createHash('sha256');
  const scratch = Buffer.allocUnsafe(Math.min(SLICE, size));
  for (let off = 0; off < size; off += SLICE) h.update(read(off, Math.min(SLICE, size - off), scratch));
  return h;
}

/** Exactly `length` bytes of open file `fd` from `position`, into `into` when given. */
function readAt(fd: number, position: number, length: number, into?: Uint8Array): Uint8Array {
  const out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, out, got, length - got, position + got);
    if (n === 0) throw new DistError('DIST_DIGEST', 'a file shrank while it was read');
    got += n;
  }
  return out;
}

/** SHA-256 (hex) and size of a file, read a slice at a time; undefined if it cannot be read. */
function fileDigest(file: string): { sha256: string; size: number } | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(SLICE);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, SLICE, size);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
    return { sha256: h.digest('hex'), size };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Files under each of `roots` (a file, or a directory walked recursively), named relative to
 * the root's parent, so `dist a/b/dir` arrives as `dir/...`. Files are hashed, not held. */
export async function collect(roots: readonly string[]): Promise<{ entry: BundleEntry; abs: string }[]> {
  const out: { entry: BundleEntry; abs: string }[] = [];
  const walk = async (abs: string, rel: string, depth: number): Promise<void> => {
    if (depth > 64) throw new DistError('DIST_USAGE', `directory nesting too deep at ${abs}`);
    const st = await fs.lstat(abs);
    if (st.isDirectory()) {
      for (const name of (await fs.readdir(abs)).sort())
        await walk(path.join(abs, name), `${rel}/${name}`, depth + 1);
    } else if (st.isFile()) {
      const d = fileDigest(abs);
      if (!d) throw new DistError('DIST_USAGE', `cannot read ${abs}`);
      out.push({
        abs,
        entry: {
          path: rel,
          mode: st.mode & 0o7777,
          mtimeMs: Math.floor(st.mtimeMs),
          size: d.size,
          sha256: d.sha256,
        },
      });
    } // symlinks and devices are not distributed
  };
  for (const r of roots) await walk(path.resolve(r), path.basename(path.resolve(r)), 0);
  return out;
}

/** The head of a bundle of `entries`: magic, manifest length (u32), manifest JSON. */
function headOf(entries: readonly BundleEntry[]): Uint8Array {
  const manifest = Buffer.from(JSON.stringify(entries));
  const head = Buffer.alloc(MAGIC.length + 4);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32BE(manifest.length, MAGIC.length);
  return Buffer.concat([head, manifest]);
}

/**
 * Bytes of a bundle laid out as segments: the head in memory, then files read on demand (at
 * most {@link MAX_OPEN} open at once). What a sender sends and a receiver already holds.
 */
class Segments {
  private readonly fds = new Map<string, number>();

  constructor(
    /** In bundle order, not overlapping. */
    private readonly segs: readonly { offset: number; size: number; bytes?: Uint8Array; file?: string }[],
  ) {}

  /** Whether [offset, offset + length) lies wholly within the segments. */
  covers(offset: number, length: number): boolean {
    let at = offset;
    for (const s of this.segs) {
      if (s.offset > at) break;
      if (s.offset + s.size > at) at = s.offset + s.size;
      if (at >= offset + length) return true;
    }
    return length === 0 || at >= offset + length;
  }

  /** `length` bytes from `offset`, into `into` when given (a scratch buffer: no garbage). */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    const out = into ? into.subarray(0, length) : new Uint8Array(length);
    for (const s of this.segs) {
      const a = Math.max(offset, s.offset);
      const b = Math.min(offset + length, s.offset + s.size);
      if (a >= b) continue;
      if (s.bytes) out.set(s.bytes.subarray(a - s.offset, b - s.offset), a - offset);
      else readAt(this.fd(s.file!), a - s.offset, b - a, out.subarray(a - offset, b - offset));
    }
    return out;
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      if (this.fds.size >= MAX_OPEN) this.close();
      fd = openSync(file, 'r');
      this.fds.set(file, fd);
    }
    return fd;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Files a sender or a receiver keeps open at once. */
const MAX_OPEN = 32;

/** A bundle read from its files as it is sent: only its head is held in memory. */
export interface BundleSource extends BlobSource {
  /** Magic, manifest length and manifest: what a receiver needs to see what it holds. */
  readonly head: Uint8Array;
  /** Closes the files it keeps open. */
  close(): void;
}

/**
 * The bundle of `files` (from {@link collect}) as the afdp layer's source: magic, manifest length
 * (u32), manifest JSON, then every file's bytes in order, read from the files when sent. Reads
 * every file once to digest the whole; a file that changed since `collect` is `DIST_DIGEST`.
 */
export function openBundle(files: readonly { entry: BundleEntry; abs: string }[]): BundleSource {
  const head = headOf(files.map((f) => f.entry));
  const segs: { offset: number; size: number; bytes?: Uint8Array; file?: string }[] = [
    { offset: 0, size: head.length, bytes: head },
  ];
  let size = head.length;
  for (const f of files) {
    segs.push({ offset: size, size: f.entry.size, file: f.abs });
    size += f.entry.size;
  }
  const bundle = new Segments(segs);
  const scratch = Buffer.allocUnsafe(SLICE);
  const whole = createHash('sha256').update(head);
  try {
    for (const [i, f] of files.entries()) {
      const start = segs[i + 1]!.offset; // segs[0] is the head
      const own = createHash('sha256');
      for (let off = 0; off < f.entry.size; off += SLICE) {
        const part = bundle.read(start + off, Math.min(SLICE, f.entry.size - off), scratch);
        own.update(part);
        whole.update(part);
      }
      if (own.digest('hex') !== f.entry.sha256)
        throw new DistError('DIST_DIGEST', `${f.abs} changed while the bundle was made`);
    }
  } catch (e) {
    bundle.close();
    throw e;
  }
  return {
    head,
    size,
    digest: whole.digest(),
    read: (offset, length) => bundle.read(offset, length),
    close: () => bundle.close(),
  };
}

/** The whole bundle of `files` in memory (tests; `troupe dist` streams with {@link openBundle}). */
export async function pack(files: readonly { entry: BundleEntry; abs: string }[]): Promise<Uint8Array> {
  const src = openBundle(files);
  try {
    return src.read(0, src.size);
  } finally {
    src.close();
  }
}

function safeRel(p: unknown): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 4096 || p.includes('\0'))
    throw new DistError('DIST_UNSAFE_PATH', 'bundle path must be a non-empty string');
  const parts = p.split('/');
  if (p.startsWith('/') || parts.some((s) => s === '..' || s === '' || s === '.'))
    throw new DistError('DIST_UNSAFE_PATH', `bundle path ${JSON.stringify(p)} escapes the target directory`);
  return p;
}

/** The bundle's head (magic, length, manifest): what a receiver needs to see what it holds. */
export function bundleHead(blob: Uint8Array): Uint8Array {
  return blob.subarray(0, readManifest(blob, blob.length).headBytes);
}

/** Parse the head of a bundle of `total` bytes: each entry with its offset in the bundle. */
function readManifest(
  blob: Uint8Array,
  total: number,
): { headBytes: number; files: { entry: BundleEntry; offset: number }[] } {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < MAGIC.length + 4 || b.toString('latin1', 0, MAGIC.length) !== MAGIC)
    throw new DistError('DIST_BAD_BUNDLE', 'not a dist bundle');
  const mlen = b.readUInt32BE(MAGIC.length);
  const headBytes = MAGIC.length + 4 + mlen;
  if (headBytes > b.length) throw new DistError('DIST_BAD_BUNDLE', 'manifest past the end');
  let raw: unknown;
  try {
    raw = JSON.parse(b.toString('utf8', MAGIC.length + 4, headBytes));
  } catch (cause) {
    throw new DistError('DIST_BAD_BUNDLE', `manifest is not JSON: ${String(cause)}`);
  }
  if (!Array.isArray(raw)) throw new DistError('DIST_BAD_BUNDLE', 'manifest is not a list');
  let off = headBytes;
  const files = raw.map((e: Record<string, unknown>) => {
    const size = e.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || off + size > total)
      throw new DistError('DIST_BAD_BUNDLE', 'file size past the end');
    const entry: BundleEntry = {
      path: safeRel(e.path),
      mode: Number(e.mode) & 0o7777,
      mtimeMs: Number(e.mtimeMs),
      size,
      sha256: String(e.sha256),
    };
    off += size;
    return { entry, offset: off - size };
  });
  return { headBytes, files };
}

/** The most of a received bundle's head read to parse it (a larger manifest is refused). */
const MAX_HEAD = 64 << 20;

/**
 * A receiver's sink for one transfer: a hidden part file in the target directory (so placing
 * its files is a rename on the same file system), written chunk by chunk as they come. The
 * digest is kept up as the written prefix grows (each byte hashed once, when the prefix reaches
 * it), so completing a transfer does not stall the process hashing the whole file at once.
 */
export class PartFile implements BlobSink {
  readonly path: string;
  private fd: number | undefined;
  private hash = createHash('sha256');
  /** Bytes hashed so far: the written prefix. */
  private hashed = 0;
  /** Written ranges past the prefix: start → end. */
  private readonly ahead = new Map<number, number>();

  constructor(
    dir: string,
    readonly size: number,
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = path.join(dir, `.troupe-dist.${randomBytes(6).toString('hex')}.part`);
    this.fd = openSync(this.path, 'wx+', 0o600);
    try {
      ftruncateSync(this.fd, size);
    } catch (e) {
      // A size the file system cannot hold (EFBIG): no part file is left behind.
      this.remove();
      throw e;
    }
  }

  write(offset: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd!, bytes, done, bytes.length - done, offset + done);
    if (offset !== this.hashed) {
      if (offset > this.hashed) this.ahead.set(offset, offset + bytes.length);
      return;
    }
    this.hash.update(bytes);
    this.hashed += bytes.length;
    // Ranges written earlier that now continue the prefix: read back and hashed once.
    for (let end = this.ahead.get(this.hashed); end !== undefined; end = this.ahead.get(this.hashed)) {
      this.ahead.delete(this.hashed);
      this.hash.update(this.read(this.hashed, end - this.hashed));
      this.hashed = end;
    }
  }

  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    return readAt(this.fd!, offset, length, into);
  }

  digest(): Uint8Array {
    // Complete: every chunk is written, so the prefix is the whole file.
    if (this.hashed !== this.size) return hashOf((o, l, into) => this.read(o, l, into), this.size).digest();
    return this.hash.copy().digest();
  }

  /** The transfer starts over (its digest did not match): everything will be written again. */
  reset(): void {
    this.hash = createHash('sha256');
    this.hashed = 0;
    this.ahead.clear();
  }

  /** Closes and deletes the part file (after placing, or when the transfer is abandoned). */
  remove(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/**
 * Place a received bundle's files under `dir`, reading the bundle (`size` bytes) with `read`: a
 * file already there with the same digest is left alone (counted as held); others are copied a
 * slice at a time to a temporary name beside the target while hashed, refused unless the digest
 * matches the manifest's, fsynced, given their mode and mtime, then renamed over the target, so
 * a reader never sees a half-written file. It awaits between slices: a receiver beside a
 * replica keeps answering while a large bundle is placed.
 */
export async function place(
  dir: string,
  read: (offset: number, length: number, into?: Uint8Array) => Uint8Array,
  size: number,
): Promise<{ written: number; held: number; bytes: number }> {
  const scratch = Buffer.allocUnsafe(SLICE);
  const prefix = Buffer.from(read(0, Math.min(size, MAGIC.length + 4)));
  if (prefix.length < MAGIC.length + 4) throw new DistError('DIST_BAD_BUNDLE', 'not a dist bundle');
  const headBytes = MAGIC.length + 4 + prefix.readUInt32BE(MAGIC.length);
  if (headBytes > Math.min(size, MAX_HEAD)) throw new DistError('DIST_BAD_BUNDLE', 'manifest past the end');
  const { files } = readManifest(read(0, headBytes), size);
  let written = 0;
  let held = 0;
  let bytes = 0;
  for (const { entry, offset } of files) {
    const target = path.join(dir, ...entry.path.split('/'));
    if ((await fileDigestAsync(target)) === entry.sha256) {
      held++;
      continue;
    }
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(
      path.dirname(target),
      `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      const h = createHash('sha256');
      for (let off = 0; off < entry.size; off += SLICE) {
        const part = read(offset + off, Math.min(SLICE, entry.size - off), scratch);
        h.update(part);
        await fh.write(part, 0, part.length, off);
      }
      if (h.digest('hex') !== entry.sha256)
        throw new DistError('DIST_DIGEST', `digest mismatch for ${entry.path}`);
      await fh.chmod(entry.mode);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await fs.unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await fs.utimes(tmp, new Date(entry.mtimeMs), new Date(entry.mtimeMs));
    await fs.rename(tmp, target);
    written++;
    bytes += entry.size;
  }
  return { written, held, bytes };
}

/** SHA-256 (hex) of a file, read a slice at a time without blocking; undefined if unreadable. */
async function fileDigestAsync(file: string): Promise<string | undefined> {
  const fh = await fs.open(file, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(SLICE);
    for (let at = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, SLICE, at);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    return h.digest('hex');
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * What a receiver under `dir` already holds of an announced bundle, as the afdp layer's
 * `holdings`: every chunk wholly made of the head (`catalog`) and of files present under `dir`
 * with the announced size and SHA-256, yielded one at a time (read when asked for). A malformed
 * catalog holds nothing.
 */
export function* heldChunks(
  dir: string,
  catalog: Uint8Array,
  chunk: number,
  size: number,
): Generator<[number, Uint8Array]> {
  let head: ReturnType<typeof readManifest>;
  try {
    head = readManifest(catalog, size);
  } catch {
    return;
  }
  const segs: { offset: number; size: number; bytes?: Uint8Array; file?: string }[] = [
    { offset: 0, size: head.headBytes, bytes: catalog.subarray(0, head.headBytes) },
  ];
  // The catalog is the announcer's word: without a key, anyone's. Only a regular file of the
  // entry's size is hashed, each once: hashed whole before its size was compared, one Announce
  // naming a held file 1,533 times (size 0) hashed it 1,533 times, seconds of a receiver's
  // process (a replica's, beside it) per datagram for a 2 MB file (review37). A FIFO blocked it.
  const digests = new Map<string, string | undefined>();
  for (const { entry, offset } of head.files) {
    const file = path.join(dir, ...entry.path.split('/'));
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(file, { throwIfNoEntry: false });
    } catch {
      continue; // not there to be held (a file where the path has a directory, no access)
    }
    if (!st?.isFile() || st.size !== entry.size) continue;
    const id = `${st.dev}:${st.ino}`;
    if (!digests.has(id)) {
      const d = fileDigest(file);
      digests.set(id, d && d.size === entry.size ? d.sha256 : undefined);
    }
    if (digests.get(id) === entry.sha256) segs.push({ offset, size: entry.size, file });
  }
  const held = new Segments(segs);
  try {
    for (let idx = 0; idx * chunk < size; idx++) {
      const from = idx * chunk;
      const length = Math.min(size, from + chunk) - from;
      if (held.covers(from, length)) yield [idx, held.read(from, length)];
    }
  } finally {
    held.close();
  }
}
