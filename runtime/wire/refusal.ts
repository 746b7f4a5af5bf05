/**
 * Refusal notices: a member's answer to a joiner (com) or a client (the replica) whose packets
 * it can never take (another group, another key, one side without a key), so the other side
 * fails at once with why instead of timing out. docs/protocol.md, "Refusal notices".
 *
 * A notice cannot be signed (the two sides share no key, or the refuser is of another group):
 * anyone able to send from an address can forge one. Receivers therefore treat it as an answer
 * only from an address that never sent them a packet that verified under their key.
 */
import { ForeignGroupError, type JoinError, KeyMismatchError } from '../errors.js';
import { DecodeError } from './errors.js';
import {
  decodeFixedHeader,
  decodePacketBody,
  type Endpoint,
  encodePacket,
  Flags,
  groupIdOf,
  PacketType,
} from './packet.js';

/** First element of a refusal notice's only header: no layer's kind is a string. */
const REFUSAL_KIND = 'refused';

/**
 * Why a packet of this group failed authentication, as a notice says it: the member (`keyed`)
 * could not verify its tag (`key`), or it carries none (`needkey`); or the member has no key and
 * the packet is tagged (`nokey`).
 */
export function keyRefusal(keyed: boolean, flags: number): 'key' | 'needkey' | 'nokey' {
  if (!keyed) return 'nokey';
  return flags & Flags.Authenticated ? 'key' : 'needkey';
}

/** Refusal notices a member sends per second at most (token bucket, burst of as many). */
export const REFUSALS_PER_SEC = 10;

/** How long a refusal from a seed waits for any packet of the group before it is the answer. */
export const REFUSAL_GRACE_MS = 500;

/**
 * Why a member refused: `group`, it is of another group (`groupId`, and `groupName` when that
 * group has no key); `key`, the packet did not verify under the member's key (`keyId`);
 * `needkey`, the member has a key and the sender none; `nokey`, the sender has a key and the
 * member none.
 */
export interface Refusal {
  reason: 'group' | 'key' | 'needkey' | 'nokey';
  groupId: number;
  keyId: string;
  groupName: string;
}

/**
 * A notice: a Discovery packet without a tag and without the Unicast flag (so no member ever
 * answers a notice with one). It names the refuser's group only when that group has no key.
 */
export function encodeRefusal(
  groupId: number,
  sender: Endpoint,
  reason: Refusal['reason'],
  keyId: string,
  groupName: string,
): Uint8Array {
  return encodePacket({
    type: PacketType.Discovery,
    flags: 0,
    groupId,
    sender,
    headers: [[REFUSAL_KIND, reason, keyId, keyId === '' ? groupName : '']],
    payload: new Uint8Array(0),
  });
}

/** Whether a decoded packet's first header is a refusal notice's. */
export function isRefusalHeader(header: unknown): boolean {
  return Array.isArray(header) && header[0] === REFUSAL_KIND;
}

/** The refusal notice in `bytes`, or undefined if they are not one. Never authenticated. */
export function readRefusal(bytes: Uint8Array): Refusal | undefined {
  try {
    const h = decodeFixedHeader(bytes);
    if (h.type !== PacketType.Discovery || h.flags !== 0) return undefined;
    const n = decodePacketBody(bytes, h).headers[0];
    if (!Array.isArray(n) || n.length !== 4 || n[0] !== REFUSAL_KIND) return undefined;
    const [, reason, keyId, groupName] = n;
    if (reason !== 'group' && reason !== 'key' && reason !== 'needkey' && reason !== 'nokey')
      return undefined;
    if (typeof keyId !== 'string' || typeof groupName !== 'string') return undefined;
    return { reason, groupId: h.groupId, keyId, groupName };
  } catch (e) {
    if (e instanceof DecodeError) return undefined;
    throw e;
  }
}

/** `rate` a second, in a burst of as many: what a member lets through of what anyone can send. */
export class TokenBucket {
  private tokens: number;
  private at: number | undefined;

  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  /** Whether one more may pass at `now` (ms). */
  take(now: number): boolean {
    if (this.at !== undefined)
      this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

/**
 * The error a refusal from `address` means to a joiner or client of `groupName` whose key id is
 * `ours` (`''` without a key): {@link ForeignGroupError} or {@link KeyMismatchError}.
 */
export function refusalError(
  groupName: string,
  seeds: readonly string[],
  address: string,
  r: Refusal,
  ours: string,
  who: 'member' | 'client',
): JoinError {
  if (r.reason === 'group')
    return new ForeignGroupError(
      `the member at ${address} answered for another group (${describeRefusal(r)}), not '${groupName}' ` +
        `(id ${hex(groupIdOf(groupName))}): check the group name and the seeds`,
      seeds,
      address,
      r.groupId,
      r.groupName === '' ? undefined : r.groupName,
    );
  const what =
    r.reason === 'key' && r.keyId === ours
      ? `it could not verify this ${who}'s packets under the same key ${ours}: does one side set encrypt and the other not?`
      : `${describeRefusal(r)}; this ${who}'s key is ${ours === '' ? 'none (insecure: true)' : ours}`;
  return new KeyMismatchError(
    `the member of '${groupName}' at ${address} answered, but ${what}`,
    seeds,
    address,
    r.keyId,
    ours,
  );
}

function hex(id: number): string {
  return `0x${id.toString(16).padStart(8, '0')}`;
}

/** What a refusal says, in words. */
export function describeRefusal(r: Refusal): string {
  switch (r.reason) {
    case 'group':
      return r.groupName === '' ? `group id ${hex(r.groupId)}` : `'${r.groupName}', id ${hex(r.groupId)}`;
    case 'key':
      return `its key differs (its key is ${r.keyId})`;
    case 'needkey':
      return `it requires a key (its key is ${r.keyId}) and this side has none`;
    case 'nokey':
      return 'it has no key (insecure: true) and this side signs with one';
  }
}
