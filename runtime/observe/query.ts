/**
 * Asking every member of a live group an observability question (`trace`, `status`) over the
 * group's own client protocol: a `hello` to the seeds for the view, then one `call` of service
 * {@link OBSERVE_SERVICE} to each member, answered from its observer. With a group key the
 * packets are signed and verified like every client's.
 */
import { randomBytes } from 'node:crypto';
import { steadyNow } from '../clock.js';
import { TroupeError } from '../errors.js';
import { CookieJar } from '../rpc/address-proof.js';
import { helloNonce } from '../rpc/client.js';
import { decodeValue, encodeValue } from '../rpc/codec.js';
import {
  type ClientPacket,
  encodeClientPacket,
  HELLO_MIN_BYTES,
  keylessPacket,
  paddedHello,
  type ReplyPacket,
  readClientPacket,
  type ViewPacket,
} from '../rpc/protocol.js';
import { endpointOf } from '../stack/member.js';
import { resolveAddressLeniently } from '../transport/resolve.js';
import { udp } from '../transport/udp.js';
import { type AuthKey, PacketAuth } from '../wire/auth.js';
import { groupIdOf } from '../wire/packet.js';
import { type Refusal, readRefusal, refusalError } from '../wire/refusal.js';
import { ANSWER_READERS, MalformedAnswerError } from './answers.js';
import { OBSERVE_SERVICE } from './events.js';

export interface QueryOptions {
  group: string;
  /** Member addresses (`host:port`) to ask for the view. */
  seeds: readonly string[];
  /** The group key, when the group has one. */
  key?: AuthKey;
  /** Overall deadline (ms). Default 3 000. */
  timeoutMs?: number;
  /** Bind address of the query's UDP socket. Default `127.0.0.1`. */
  host?: string;
}

/**
 * One member's answer: a value, an error, or nothing within the deadline. A `status` or `trace`
 * answer that is not of its shape is an error `OBSERVE_MALFORMED_ANSWER` (its message names the
 * field), and one that cannot be decoded `MALFORMED`: the member is reported, the others shown.
 */
export interface MemberAnswer {
  member: string;
  address: string;
  value?: unknown;
  error?: { code: string; message: string };
}

const RESEND_MS = 200;

/**
 * Asks every member of the group's current view `method(...args)`; resolves with one answer per
 * member (missing ones as `error.code` `TIMEOUT`). Rejects with `TroupeError` `NO_CONTACT` if no
 * seed sends its view in time, or with the refusal a seed sent (`JOIN_FOREIGN_GROUP`,
 * `JOIN_KEY_MISMATCH`: another group or key).
 */
export async function queryGroup(
  options: QueryOptions,
  method: string,
  args: unknown[],
): Promise<MemberAnswer[]> {
  if (!options.seeds.length) throw new TroupeError('RPC_CONFIG', 'a query needs at least one seed address');
  const timeoutMs = options.timeoutMs ?? 3_000;
  const auth = options.key === undefined ? undefined : new PacketAuth(options.key);
  const groupId = groupIdOf(options.group);
  const endpoint = { node: randomBytes(4).readUInt32BE(0), inc: 0 };
  const clientId = `q${randomBytes(6).toString('hex')}`;
  const drops = { malformed: 0, foreign: 0, unauthenticated: 0, replayed: 0 };
  // The monotonic clock: a wall clock stepped back mid-query would have kept it asking for good.
  // Set before the seeds are resolved, whose lookups count towards the timeout.
  const deadline = steadyNow() + timeoutMs;
  // Views are taken from the seeds only, so their addresses as packets come from them.
  const seedAddrs = await Promise.all(options.seeds.map(resolveAddressLeniently));
  const transport = await udp({ host: options.host ?? '127.0.0.1' });
  let view: ViewPacket | undefined;
  /** Without a key, what a hello is padded to: a member answers one with at most 3 times its bytes. */
  let helloSize = HELLO_MIN_BYTES;
  /** Without a key: each member's cookie for our address, which our calls to it carry. */
  const cookies = new CookieJar();
  /**
   * Without a key: the nonce of our hellos, which a seed's view must echo. A source address can
   * be spoofed: a view from a seed's address naming the seed there, forged, had us ask (and
   * report the answer of) whatever members and addresses it added (review37). One per query: it
   * lasts seconds, and a member echoes the nonce of the hello it answers.
   */
  const nonce = auth ? undefined : helloNonce(randomBytes(7));
  const echoes = (p: ViewPacket) => auth !== undefined || p.echo === nonce;
  const answers = new Map<string, MemberAnswer>();
  const ids = new Map<string, string>(); // request id → member
  const sentAt = new Map<string, number>();
  const encodedArgs = encodeValue(args);
  let wake: () => void = () => {};
  /** A seed's refusal notice (another group or key): the error if no view comes. */
  let refused: { from: string; r: Refusal } | undefined;
  transport.onPacket((bytes, from) => {
    // Only seeds hear from us before a view comes (names or IPs: any sender then counts).
    const r = view ? undefined : readRefusal(bytes);
    if (r) refused ??= { from, r };
    const p = readClientPacket(bytes, groupId, auth, drops, endpoint)?.packet;
    // A view from a seed that names itself at the address it came from, as a client takes one:
    // from anywhere, one forged datagram naming many addresses had each asked until the deadline.
    if (
      p?.kind === 'view' &&
      (!view || p.viewId > view.viewId) &&
      seedAddrs.includes(from) &&
      p.addresses[p.members.indexOf(p.member)] === from &&
      echoes(p)
    ) {
      view = p;
      wake();
    }
    // A keyless seed's answer to a hello too small for its view (FINDINGS 190): pad it, at most
    // doubling per notice, and say hello again at once only when it grew. Any other packet waits
    // for the round: waking on each re-sent every hello, and a seed asking for more than 16 KiB
    // ping-ponged with us at round-trip speed until the deadline (helper-119's review).
    if (p?.kind === 'pad' && !auth && !view && seedAddrs.includes(from)) {
      const grown = paddedHello(helloSize, p.need);
      if (grown > helloSize) {
        helloSize = grown;
        wake();
      }
    }
    if (
      !auth &&
      p?.kind === 'view' &&
      p.cookie &&
      seedAddrs.includes(from) &&
      p.addresses[p.members.indexOf(p.member)] === from &&
      echoes(p)
    )
      cookies.fromView(from, p.cookie, steadyNow());
    // A member asked without its cookie (not a seed, whose view gave it): ask it again at once.
    if (
      !auth &&
      p?.kind === 'cookie' &&
      view?.addresses.includes(from) &&
      cookies.fromNotice(from, p.cookie, steadyNow())
    ) {
      sentAt.delete(view.members[view.addresses.indexOf(from)] ?? '');
      wake();
    }
    if (p?.kind === 'reply') {
      onReply(p, from);
      wake();
    }
  });
  const onReply = (p: ReplyPacket, from: string) => {
    const member = ids.get(p.id);
    if (!member || !view) return;
    const address = view.addresses[view.members.indexOf(member)] ?? '';
    if (from !== address) return; // answered by the member asked, at its address
    if (p.result.ok) {
      let value: unknown;
      try {
        value = decodeValue(p.result.value);
      } catch {
        answers.set(member, { member, address, error: { code: 'MALFORMED', message: 'undecodable answer' } });
        return;
      }
      // Read as the query's shape here, once: every reader of the answers (`troupe status`,
      // `troupe trace`, the live page) then holds what it expects, and nothing else.
      const read = ANSWER_READERS[method];
      try {
        answers.set(member, { member, address, value: read ? read(value) : value });
      } catch (e) {
        if (!(e instanceof MalformedAnswerError)) throw e;
        answers.set(member, { member, address, error: { code: e.code, message: e.message } });
      }
    } else
      answers.set(member, {
        member,
        address,
        error: { code: p.result.error.code, message: p.result.error.message },
      });
  };
  // A call names its member in the tag (like a client's), so a copy replayed to another member
  // is refused there; a hello to a seed, whose member is not known yet, goes unaddressed.
  // Without a key, a packet carries the member's cookie for our address once it gave one.
  const send = (to: string, p: ClientPacket, member?: string) =>
    transport.send(
      to,
      auth
        ? encodeClientPacket(
            p,
            groupId,
            endpoint,
            auth,
            member === undefined ? undefined : endpointOf(member),
          )
        : keylessPacket(p, cookies.get(to), helloSize, (q, head) =>
            encodeClientPacket(q, groupId, endpoint, undefined, undefined, head),
          ),
    );
  const hello = (to: string) =>
    send(to, { kind: 'hello', viewId: 0, ...(nonce !== undefined ? { nonce } : {}) });
  try {
    let n = 0;
    while (steadyNow() < deadline) {
      if (!view) for (const s of options.seeds) hello(s);
      else {
        const v = view;
        const now = steadyNow();
        v.members.forEach((member, i) => {
          if (answers.has(member) || now - (sentAt.get(member) ?? 0) < RESEND_MS) return;
          sentAt.set(member, now);
          const id = `${clientId}:${++n}`;
          ids.set(id, member);
          send(
            v.addresses[i]!,
            {
              kind: 'call',
              id,
              service: OBSERVE_SERVICE,
              method,
              args: encodedArgs,
              mode: 'first',
              to: member,
            },
            member,
          );
        });
        if (v.members.every((m) => answers.has(m))) break;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(RESEND_MS, Math.max(1, deadline - steadyNow())));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    await transport.close();
  }
  if (!view && refused)
    throw refusalError(options.group, options.seeds, refused.from, refused.r, auth?.keyId ?? '', 'client');
  if (!view)
    throw new TroupeError(
      'NO_CONTACT',
      `no member of group '${options.group}' answered within ${timeoutMs} ms (seeds: ${options.seeds.join(', ')})`,
    );
  const v = view;
  return v.members.map(
    (member, i) =>
      answers.get(member) ?? {
        member,
        address: v.addresses[i] ?? '',
        error: { code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms` },
      },
  );
}
