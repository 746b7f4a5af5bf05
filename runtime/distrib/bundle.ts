import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
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

/** Files under each of `roots` (a file, or a directory walked recursively), named relative to
 * the root's parent, so `dist a/b/dir` arrives as `dir/...`. */
export async function collect(roots: readonly string[]): Promise<{ entry: BundleEntry; abs: string }[]> {
  const out: { entry: BundleEntry; abs: string }[] = [];
  const walk = async (abs: string, rel: string, depth: number): Promise<void> => {
    if (depth > 64) throw new DistError('DIST_USAGE', `directory nesting too deep at ${abs}`);
    const st = await fs.lstat(abs);
    if (st.isDirectory()) {
      for (const name of (await fs.readdir(abs)).sort())
        await walk(path.join(abs, name), `${rel}/${name}`, depth + 1);
    } else if (st.isFile()) {
      const data = await fs.readFile(abs);
      out.push({
        abs,
        entry: {
          path: rel,
          mode: st.mode & 0o7777,
          mtimeMs: Math.floor(st.mtimeMs),
          size: data.length,
          sha256: createHash('sha256').update(data).digest('hex'),
        },
      });
    } // symlinks and devices are not distributed
  };
  for (const r of roots) await walk(path.resolve(r), path.basename(path.resolve(r)), 0);
  return out;
}

/** One blob: magic, manifest length (u32), manifest JSON, then every file's bytes in order. */
export async function pack(files: readonly { entry: BundleEntry; abs: string }[]): Promise<Uint8Array> {
  const manifest = Buffer.from(JSON.stringify(files.map((f) => f.entry)));
  const head = Buffer.alloc(MAGIC.length + 4);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32BE(manifest.length, MAGIC.length);
  const parts: Buffer[] = [head, manifest];
  for (const f of files) parts.push(await fs.readFile(f.abs));
  return Buffer.concat(parts);
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

/** Split a blob into its manifest and each file's bytes, refusing anything malformed. */
export function unpack(blob: Uint8Array): { entry: BundleEntry; data: Uint8Array }[] {
  return readManifest(blob, blob.length).files.map(({ entry, offset }) => {
    const data = blob.subarray(offset, offset + entry.size);
    if (createHash('sha256').update(data).digest('hex') !== entry.sha256)
      throw new DistError('DIST_DIGEST', `digest mismatch for ${entry.path}`);
    return { entry, data };
  });
}

/**
 * What a receiver under `dir` already holds of an announced bundle, as the afdp layer's
 * `holdings`: every chunk wholly made of the head (`catalog`) and of files present under `dir`
 * with the announced size and SHA-256. A malformed catalog holds nothing.
 */
export function heldChunks(
  dir: string,
  catalog: Uint8Array,
  chunk: number,
  size: number,
): Map<number, Uint8Array> {
  const held = new Map<number, Uint8Array>();
  let head: ReturnType<typeof readManifest>;
  try {
    head = readManifest(catalog, size);
  } catch {
    return held;
  }
  // Byte ranges of the bundle we can produce, in bundle order: the head, then each held file.
  const parts: { offset: number; bytes: Uint8Array }[] = [
    { offset: 0, bytes: catalog.subarray(0, head.headBytes) },
  ];
  for (const { entry, offset } of head.files) {
    const data = readIfSame(path.join(dir, ...entry.path.split('/')), entry);
    if (data) parts.push({ offset, bytes: data });
  }
  for (let idx = 0; idx * chunk < size; idx++) {
    const from = idx * chunk;
    const to = Math.min(size, from + chunk);
    const out = new Uint8Array(to - from);
    let covered = 0;
    for (const p of parts) {
      const a = Math.max(from, p.offset);
      const b = Math.min(to, p.offset + p.bytes.length);
      if (a >= b) continue;
      out.set(p.bytes.subarray(a - p.offset, b - p.offset), a - from);
      covered += b - a;
    }
    if (covered === out.length) held.set(idx, out);
  }
  return held;
}

function readIfSame(file: string, entry: BundleEntry): Uint8Array | undefined {
  try {
    if (statSync(file).size !== entry.size) return undefined;
    const data = readFileSync(file);
    return createHash('sha256').update(data).digest('hex') === entry.sha256 ? data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Place files under `dir`: a file already there with the same digest is left alone (counted as
 * held); others are written to a temporary name beside the target, fsynced, given their mode
 * and mtime, then renamed over it, so a reader never sees a half-written file.
 */
export async function place(
  dir: string,
  files: readonly { entry: BundleEntry; data: Uint8Array }[],
): Promise<{ written: number; held: number; bytes: number }> {
  let written = 0;
  let held = 0;
  let bytes = 0;
  for (const { entry, data } of files) {
    const target = path.join(dir, ...entry.path.split('/'));
    const existing = await fs.readFile(target).catch(() => undefined);
    if (existing && createHash('sha256').update(existing).digest('hex') === entry.sha256) {
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
      await fh.writeFile(data);
      await fh.chmod(entry.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.utimes(tmp, new Date(entry.mtimeMs), new Date(entry.mtimeMs));
    await fs.rename(tmp, target);
    written++;
    bytes += data.length;
  }
  return { written, held, bytes };
}
