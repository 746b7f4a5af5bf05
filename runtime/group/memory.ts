/**
 * Membership memory on disk: the last view this member installed, kept in a small file so that a
 * process that crashed and restarted at the same address remembers it, as a member that rejoins in
 * its process does. The bootstrap vote reads it (docs/protocol.md, "Membership memory"): a process
 * that was in a view counts towards founding a group only while the members of that view it
 * cannot account for are at most half of it, so a restarted seed cannot help found a second group
 * beside a primary that went on without it. Without the file a crashed process remembers nothing
 * (docs/protocol.md, "Limitations").
 *
 * The file is written before any packet of the turn that installed the view leaves (the driver
 * saves first, then transmits), to a temporary file that is synced and renamed over the old one:
 * a crash at any point leaves the old view or the new one, never a torn file.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { MembershipFileError } from '../errors.js';
import type { LastView } from '../stack/types.js';

/** The file's format version. */
const FORMAT = 1;

interface Stored {
  troupe: number;
  group: string;
  members: string[];
  addresses: string[];
  self: string;
}

const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');

/**
 * The view remembered in `path` for group `groupName`, or undefined when there is no file.
 * @throws MembershipFileError when the file cannot be read or parsed, or names another group
 */
export function loadMembership(path: string, groupName: string): LastView | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MembershipFileError(`cannot read the membership file ${path}: ${(e as Error).message}`, path, {
      cause: e,
    });
  }
  let s: Partial<Stored>;
  try {
    s = JSON.parse(text) as Partial<Stored>;
  } catch (e) {
    throw new MembershipFileError(`the membership file ${path} is not JSON`, path, { cause: e });
  }
  if (
    s === null ||
    typeof s !== 'object' ||
    s.troupe !== FORMAT ||
    typeof s.group !== 'string' ||
    !strings(s.members) ||
    !strings(s.addresses) ||
    s.members.length !== s.addresses.length ||
    s.members.length === 0 ||
    typeof s.self !== 'string'
  )
    throw new MembershipFileError(`the membership file ${path} is not a troupe membership file`, path);
  if (s.group !== groupName)
    throw new MembershipFileError(
      `the membership file ${path} is group '${s.group}''s, not '${groupName}''s`,
      path,
    );
  return { members: s.members, addresses: s.addresses, self: s.self };
}

/**
 * Replaces `path` with `last` (written to `path.tmp`, synced, renamed).
 * @throws MembershipFileError when it cannot be written
 */
export function saveMembership(path: string, groupName: string, last: LastView): void {
  const stored: Stored = {
    troupe: FORMAT,
    group: groupName,
    members: [...last.members],
    addresses: [...last.addresses],
    self: last.self,
  };
  const tmp = `${path}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(stored)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    // The rename itself is durable only once the directory is synced.
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    throw new MembershipFileError(`cannot write the membership file ${path}: ${(e as Error).message}`, path, {
      cause: e,
    });
  }
}
