/**
 * A replica's side of the clients it serves as their contact: who they are (seen lately, and the
 * datagram limit each said it takes) and the packets it sends them. The {@link Replica} decides
 * what to tell a client; this decides how it travels: `accepted` and `reply` packets of one turn
 * leave together at its end, several replies of one view in one `replies` packet, and a packet
 * too large for the client's datagrams becomes an error the client can read.
 */
import type { GroupHandle } from '../group/types.js';
import { type CoreSink, requestStep } from '../observe/events.js';
import type { PacketAuth } from '../wire/auth.js';
import type { Endpoint } from '../wire/packet.js';
import { AddressProof } from './address-proof.js';
import {
  type AcceptedPacket,
  type ClientPacket,
  encodeClientPacket,
  HELLO_AMPLIFICATION,
  type HelloPacket,
  MAX_BATCHED_REPLIES,
  MIN_ADVERTISED_DATAGRAM,
  type ReplyPacket,
  type ViewPacket,
  WANTS_HISTORY,
} from './protocol.js';
import type { Result } from './result.js';

/** What the link reads of its replica, each when it sends (a rejoin changes the endpoint). */
export interface LinkOwner {
  group(): GroupHandle | undefined;
  /** The group's id and this incarnation's endpoint, as client packets carry them. */
  groupId(): number;
  endpoint(): Endpoint;
  auth(): PacketAuth | undefined;
  clock(): number;
  observe(): CoreSink;
  /** Runs `fn` so that a throw is counted, never thrown (the turn-end flush runs outside any call). */
  guard(fn: () => void): void;
  /** Without a key: this member's secret for the cookies it gives client addresses. */
  cookieSecret(): Uint8Array;
}

/** Clients a member keeps (last seen, datagram limit): as many as it pushes views to. */
const MAX_CLIENTS = 4096;

/**
 * Replies batched into one packet stay under this many bytes of results (estimated), well below a
 * UDP datagram; a larger single reply goes alone.
 */
const BATCH_BYTES = 16 * 1024;

export class ClientLink {
  /** What this turn produced for each client, sent at its end ({@link flush}). */
  private outbox = new Map<string, { accepted: AcceptedPacket[]; replies: ReplyPacket[] }>();
  /** Client address → when it was last heard from, least recent first (view pushes go to these). */
  private readonly seen = new Map<string, number>();
  private newest: string | undefined;
  /** Client address → the datagram size its hello said it takes, when smaller than ours. */
  private readonly limits = new Map<string, number>();
  /**
   * Without a key: the nonce of each client address's latest proven hello, echoed in the views
   * pushed to it (a keyless client takes a view only with the echo of a hello it sent here).
   */
  private readonly nonces = new Map<string, number>();
  /** Client addresses whose latest proven hello asked for the view's history ({@link WANTS_HISTORY}). */
  private readonly historyReaders = new Set<string>();
  /** Keyless hellos answered with a `pad` notice: too small for the view. */
  padded = 0;
  /** Keyless packets answered with a `cookie` notice: a call not served, an outcome held back. */
  cookieNotices = 0;
  private proof_: AddressProof | undefined;

  constructor(private readonly owner: LinkOwner) {}

  /** Without a key: this member's cookies for its clients' addresses. */
  get proof(): AddressProof {
    this.proof_ ??= new AddressProof(this.owner.cookieSecret());
    return this.proof_;
  }

  /**
   * Whether a packet from `addr` that carried `cookie` (if any) comes from a sender that receives
   * at `addr`: always under a key (it authenticates the sender); without one, when it carried
   * this member's cookie for the address.
   */
  proven(addr: string, cookie: Uint8Array | undefined): boolean {
    return this.owner.auth() !== undefined || this.proof.proves(addr, cookie, this.owner.clock());
  }

  /**
   * Without a key, a packet of `bytes` bytes from `to` that did not prove its address: `p`, its
   * answer, goes if it is at most {@link HELLO_AMPLIFICATION} times that, else a `cookie` notice
   * (the client asks again with the cookie).
   */
  sendWithin(to: string, p: ClientPacket, bytes: number): void {
    const encoded = this.encode(p);
    if (encoded.length <= HELLO_AMPLIFICATION * bytes) this.sendNow(to, p, encoded);
    else this.cookieNotice(to, bytes);
  }

  /**
   * Without a key, a packet of `bytes` bytes from `to` that did not prove its address and is not
   * answered without proof (a call, a fencing query, an answer too large): its cookie, in a
   * notice no larger than the packet (a packet smaller than a notice gets nothing).
   */
  cookieNotice(to: string, bytes: number): void {
    const p: ClientPacket = { kind: 'cookie', cookie: this.proof.cookieFor(to, this.owner.clock()) };
    const notice = this.encode(p);
    if (notice.length > bytes) return;
    this.cookieNotices++;
    this.sendNow(to, p, notice);
  }

  /** A packet came from client `addr`: it is one of this contact's clients, seen now. */
  touch(addr: string): void {
    const now = this.owner.clock();
    // Already the most recently seen (one busy client): refresh it where it stands.
    if (addr === this.newest) {
      this.seen.set(addr, now);
      return;
    }
    this.newest = addr;
    this.seen.delete(addr);
    this.seen.set(addr, now);
    if (this.seen.size > MAX_CLIENTS) this.seen.delete(this.seen.keys().next().value as string);
  }

  /**
   * A client's hello of `bytes` bytes: keep the datagram size it takes, if it gave one, and tell
   * it the view. Without a key and without this member's cookie (`proven` false) the hello's
   * source address may be forged, so the answer is at most {@link HELLO_AMPLIFICATION} times its
   * bytes: a larger view gets a `pad` notice instead, and the client says hello again, padded (a
   * 34-byte hello drew 1,706 bytes of a 64-member view).
   */
  hello(addr: string, h: HelloPacket, bytes: number, proven: boolean): void {
    const { maxDatagram, nonce } = h;
    const readsHistory = ((h.wants ?? 0) & WANTS_HISTORY) !== 0;
    // Kept only from a hello that proved its address: a forged one in a client's name saying
    // 1,200 bytes turned the client's 2 KB results into REPLY_TOO_LARGE (helper-122's review).
    if (proven && maxDatagram !== undefined && maxDatagram >= MIN_ADVERTISED_DATAGRAM) {
      this.limits.delete(addr);
      this.limits.set(addr, maxDatagram);
      if (this.limits.size > MAX_CLIENTS) this.limits.delete(this.limits.keys().next().value as string);
    }
    if (proven) {
      this.historyReaders.delete(addr);
      if (readsHistory) this.historyReaders.add(addr);
      if (this.historyReaders.size > MAX_CLIENTS)
        this.historyReaders.delete(this.historyReaders.values().next().value as string);
    }
    // Only a proven hello's is echoed later: one forged in the client's name would otherwise
    // make our pushes to it echo what the forger chose.
    if (proven) this.keepNonce(addr, nonce);
    // The echo is this hello's own nonce, or none: a client of an earlier release (no nonce) at
    // an address another client used would refuse a view echoing that one's (8 fields).
    const view = this.view(addr, { limit: maxDatagram !== undefined, history: readsHistory }, nonce);
    if (!view) return;
    if (!proven) {
      const encoded = this.encode(view);
      if (encoded.length > HELLO_AMPLIFICATION * bytes) {
        this.padded++;
        // Nor is it one of our clients yet: pushed at the next view change, the whole view
        // would go to a forged address all the same (helper-119's review). Its padded hello
        // makes it one again.
        this.seen.delete(addr);
        if (this.newest === addr) this.newest = undefined;
        this.sendNow(addr, { kind: 'pad', need: Math.ceil(encoded.length / HELLO_AMPLIFICATION) });
        return;
      }
      // Not one of our clients yet (told the views to come): pushed at each view change for
      // `clientPushMs`, the views would go to a forged address beyond 3 times the hello. The
      // client's next hello carries the cookie this view gives it, and makes it one.
      this.sendNow(addr, view, encoded);
      return;
    }
    this.sendNow(addr, view);
  }

  /**
   * A proven hello this member does not answer yet (it does not serve: a joiner before its
   * state): its sender is a client, told the view once this member serves, echoing `nonce`.
   */
  heard(addr: string, nonce: number | undefined): void {
    this.touch(addr);
    this.keepNonce(addr, nonce);
  }

  private keepNonce(addr: string, nonce: number | undefined): void {
    if (nonce === undefined) return;
    this.nonces.delete(addr);
    this.nonces.set(addr, nonce);
    if (this.nonces.size > MAX_CLIENTS) this.nonces.delete(this.nonces.keys().next().value as string);
  }

  /** A new view: every client heard from within `withinMs` is told it. */
  pushView(withinMs: number): void {
    const now = this.owner.clock();
    for (const [addr, at] of this.seen) if (now - at <= withinMs) this.sendView(addr);
  }

  /** Sends `p` to `to`: `accepted` and `reply` at the end of this turn, anything else at once. */
  send(to: string, p: ClientPacket): void {
    if (p.kind === 'reply') {
      const sink = this.owner.observe();
      requestStep.replied(sink, p.id, to);
    }
    if (p.kind !== 'reply' && p.kind !== 'accepted') {
      this.sendNow(to, p);
      return;
    }
    let out = this.outbox.get(to);
    if (!out) {
      if (this.outbox.size === 0) queueMicrotask(() => this.owner.guard(() => this.flush()));
      out = { accepted: [], replies: [] };
      this.outbox.set(to, out);
    }
    if (p.kind === 'reply') out.replies.push(p);
    else out.accepted.push(p);
  }

  /** Tells client `to` this member's view now, as a push would. */
  tellView(to: string): void {
    this.sendView(to);
  }

  private sendView(to: string): void {
    const view = this.view(
      to,
      { limit: this.limits.has(to), history: this.historyReaders.has(to) },
      this.nonces.get(to),
    );
    if (view) this.sendNow(to, view);
  }

  /**
   * The view as `to` is told it, if this member has one; with our datagram limit when `to` reads
   * it (its hello gave its own: a client of an earlier release refuses 6 fields), with the
   * group's history when it asked for it and this member's state is settled; without a key
   * echoing `echo` (a hello's nonce).
   */
  private view(
    to: string,
    reads: { limit: boolean; history: boolean },
    echo: number | undefined,
  ): ViewPacket | undefined {
    const group = this.owner.group();
    const view = group?.view;
    if (!group || !view) return undefined;
    // A client that gave its own limit reads ours (6 fields); one of an earlier release would
    // refuse them, and gets the 5 it reads.
    const max = group.maxDatagram;
    return {
      kind: 'view',
      member: group.self,
      viewId: view.id,
      members: [...view.members],
      addresses: [...view.addresses],
      ...(max !== undefined && reads.limit ? { maxDatagram: max } : {}),
      ...(reads.history && group.history !== undefined ? { history: group.history } : {}),
      // Without a key: the cookie the client's packets to this member carry from now on.
      ...(this.owner.auth() === undefined
        ? {
            cookie: this.proof.cookieFor(to, this.owner.clock()),
            ...(echo !== undefined ? { echo } : {}),
          }
        : {}),
    };
  }

  private sendNow(to: string, p: ClientPacket, encoded?: Uint8Array): void {
    const group = this.owner.group();
    if (!group) return;
    const bytes = encoded ?? this.encode(p);
    // Ours, or the client's if its hello said a smaller one (a client over TCP with small frames
    // drops a larger frame and its connection with it).
    const theirs = this.limits.get(to);
    const max =
      theirs === undefined
        ? group.maxDatagram
        : Math.min(group.maxDatagram ?? Number.POSITIVE_INFINITY, theirs);
    if (max === undefined || bytes.length <= max) {
      group.sendRaw(to, bytes);
      return;
    }
    // Too large for one datagram: the transport would drop it, every time the client asked
    // again, and the call ended in a TimeoutError at its deadline though the request had run (a
    // 4,000-entry bank statement). The client is told why instead; the recorded result stays.
    if (p.kind === 'replies') {
      for (const r of p.replies)
        this.sendNow(to, { kind: 'reply', member: p.member, viewId: p.viewId, members: p.members, ...r });
      return;
    }
    if ((p.kind === 'reply' || p.kind === 'outcome' || p.kind === 'reject') && p.result) {
      const result: Result = {
        ok: false,
        error: {
          name: 'TroupeError',
          code: 'REPLY_TOO_LARGE',
          message: `the ${p.kind === 'reject' ? 'refusal' : 'result'} of request ${p.id} makes a ${bytes.length}-byte packet, more than one datagram (${max}) carries to the client: ${p.kind === 'reject' ? 'the request was refused (never ordered), but why' : 'the request ran, but its result'} cannot reach a client over this transport`,
        },
      };
      group.sendRaw(to, this.encode({ ...p, result }));
      return;
    }
    group.sendRaw(to, bytes);
  }

  private encode(p: ClientPacket): Uint8Array {
    return encodeClientPacket(p, this.owner.groupId(), this.owner.endpoint(), this.owner.auth());
  }

  /**
   * Sends what this turn produced for each client: an ordered request's `accepted` only when no
   * reply to it goes with it (a reply says more: the request was ordered, and its result), an
   * unordered query's always, replies alone as `reply`, several of one view together as `replies`.
   */
  private flush(): void {
    const outbox = this.outbox;
    this.outbox = new Map();
    for (const [to, { accepted, replies }] of outbox) {
      const answered = new Set(replies.map((r) => r.id));
      // An unordered query's `accepted` says what a reply cannot: that it was not ordered (the
      // client then asks the members that owe replies again, not `outcome?`).
      for (const a of accepted) if (!answered.has(a.id) || !a.ordered) this.sendNow(to, a);
      const byView = new Map<string, ReplyPacket[]>();
      for (const r of replies) {
        const key = `${r.member} ${r.viewId} ${r.members.join(' ')}`;
        const list = byView.get(key);
        if (list) list.push(r);
        else byView.set(key, [r]);
      }
      for (const list of byView.values()) {
        let chunk: ReplyPacket[] = [];
        let size = 0;
        const send = () => {
          const { member, viewId, members } = chunk[0]!;
          if (chunk.length === 1) this.sendNow(to, chunk[0]!);
          else {
            const replies = chunk.map(({ id, result }) => ({ id, result }));
            this.sendNow(to, { kind: 'replies', member, viewId, members, replies });
          }
          chunk = [];
          size = 0;
        };
        for (const r of list) {
          const bytes = replySize(r);
          if (chunk.length > 0 && (chunk.length === MAX_BATCHED_REPLIES || size + bytes > BATCH_BYTES))
            send();
          chunk.push(r);
          size += bytes;
        }
        if (chunk.length > 0) send();
      }
    }
  }
}

function replySize(r: ReplyPacket): number {
  const e = r.result.ok ? undefined : r.result.error;
  // An error's details are not measured here: such a reply goes alone.
  if (e?.details !== undefined) return BATCH_BYTES;
  const result = r.result.ok ? r.result.value.length : e!.message.length + e!.name.length + e!.code.length;
  return r.id.length + result + 16;
}
