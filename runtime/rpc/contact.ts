/**
 * The contact role of a {@link Replica}: what a member does for the clients whose packets reach
 * it. Read top to bottom, a client packet goes:
 *
 * 1. {@link Contact.onPacket} checks it (group, key, replay, addressee) and sorts it: a hello,
 *    an outcome query, one call, or one turn's calls of one client;
 * 2. a call already known is answered from the outcome table, one already in the order gets an
 *    `accepted`, one cast lately waits for its own cast ({@link Contact.onCall});
 * 3. an ordered call is cast into the group's total order through the {@link RequestBatcher}
 *    (alone, or in one cast with the calls that came while the last was being ordered); an
 *    unordered query is answered here, and by every member for `all`/`majority`;
 * 4. an outcome query about a request this member knows nothing of fences it
 *    ({@link Contact.fence}), so a `not-found` becomes final once the fence is applied.
 *
 * It owns what only the contact keeps (its casts in flight, their decoded arguments, its
 * fences, the query and refusal rate limits) and reads the replicated tables through its
 * {@link ContactHost}: the apply queue changes those, this role never does.
 */
import { TroupeError } from '../errors.js';
import type { GroupHandle } from '../group/types.js';
import { type CoreSink, OBSERVE_SERVICE, requestStep } from '../observe/events.js';
import type { PacketAuth } from '../wire/auth.js';
import type { Endpoint } from '../wire/packet.js';
import { decodeFixedHeader, PacketType } from '../wire/packet.js';
import { encodeRefusal, keyRefusal, REFUSALS_PER_SEC, type Refusal, TokenBucket } from '../wire/refusal.js';
import type { ClientLink } from './client-link.js';
import type { CallContext } from './context.js';
import { type Dispatcher, failure, type MethodEntry, type Resolved } from './dispatch.js';
import { encodeGroupMsg, type ForwardMsg, type RequestMsg } from './messages.js';
import type { Lookup, OutcomeTable } from './outcomes.js';
import {
  type CallPacket,
  type DropReason,
  HELLO_AMPLIFICATION,
  type OutcomePacket,
  type OutcomeQueryPacket,
  readClientPacket,
  TO_CLIENT,
} from './protocol.js';
import { DEFAULT_CALL_QOS } from './qos.js';
import { RequestBatcher } from './request-batcher.js';
import type { Result } from './result.js';
import type { AppliedView } from './snapshot.js';

/**
 * Observability queries (`status`, `trace`, `check`) a member answers a second, in a burst of as
 * many; past it they are dropped and the asker retries. The live page polls each member every
 * 2 s, `troupe status` once.
 */
export const OBSERVE_QUERIES_PER_SEC = 20;

/**
 * A request delivered and not yet applied: the view it was ordered in, and the client's issue
 * of that copy (a fence may still refuse it; docs/rpc.md, "Issues and fencing").
 */
export interface InOrder extends AppliedView {
  issue: number;
}

/** The replica's counters the contact role adds to (the replica's `stats()`). */
export type ContactCounters = Record<DropReason, number> & {
  misdirected: number;
  observeLimited: number;
  otherHistory: number;
  unspoken: number;
  deduplicated: number;
  refusalsSent: number;
  internalErrors: number;
};

/** What the contact role reads of its replica, each when it needs it (a rejoin, a restore change them). */
export interface ContactHost {
  group(): GroupHandle | undefined;
  /** The group's id and this incarnation's endpoint, as client packets carry them. */
  groupId(): number;
  endpoint(): Endpoint;
  readonly auth: PacketAuth | undefined;
  readonly counters: ContactCounters;
  readonly link: ClientLink;
  readonly dispatcher: Dispatcher;
  readonly observe: CoreSink;
  clock(): number;
  /** Applied a view of its current incarnation: its tables are the group's (see `Replica`). */
  serving(): boolean;
  outcomes(): OutcomeTable;
  /** The view request `id` was ordered in, while its handler runs at the lock's holder. */
  pendingView(id: string): AppliedView | undefined;
  /** Request `id` delivered and not yet applied here. */
  queued(id: string): InOrder | undefined;
  /** The view the apply queue has reached. */
  applied(): AppliedView;
  /** Answers `client` with a recorded outcome, naming the view it was ordered in where it can. */
  replyFromTable(id: string, outcome: NonNullable<Lookup>, client: string, view: AppliedView): void;
  /** The context a method runs in. */
  context(id: string, entry: MethodEntry, view: AppliedView, now: number): CallContext;
}

/** Calls whose decoded arguments a contact keeps for its own apply, at most. */
const CAST_ARGS = 4096;
/** Fences a contact remembers casting (against casting one again within `recastMs`), at most. */
const FENCES = 4096;

export class Contact {
  /** Calls this member cast and has not yet seen delivered: id → cast time. */
  private readonly inflight = new Map<string, number>();
  /** Orders this member's calls: at once when alone, in one cast while an earlier one is ordered. */
  private readonly batcher = new RequestBatcher(
    (payload, qos) => this.host.group()?.cast(payload, qos),
    undefined,
    undefined,
    (id, error, client) => this.onRefused(id, error, client),
  );
  /**
   * The arguments of this member's own casts, decoded and validated when the call came in: applying
   * the request here uses them instead of decoding the same bytes again. Id → the issue cast and
   * its resolution.
   */
  private readonly castArgs = new Map<string, { issue: number; resolved: Extract<Resolved, { ok: true }> }>();
  /** Fences this member cast and has not yet applied: request id → cast time and the issue fenced. */
  private readonly fencing = new Map<string, { at: number; upTo: number }>();
  private readonly refusalTokens = new TokenBucket(REFUSALS_PER_SEC);
  /** Observability queries answered, at most {@link OBSERVE_QUERIES_PER_SEC} a second. */
  private readonly observeTokens = new TokenBucket(OBSERVE_QUERIES_PER_SEC);

  /** @param recastMs a call cast but not delivered within this many ms is cast again on retransmission. */
  constructor(
    private readonly host: ContactHost,
    private readonly recastMs: number,
  ) {}

  /** Request casts, the requests they carried, and requests the group refused (`ReplicaStats`). */
  stats(): { requestCasts: number; requestsCast: number; requestsRefused: number } {
    const b = this.batcher;
    return { requestCasts: b.casts, requestsCast: b.requests, requestsRefused: b.refused };
  }

  /**
   * This member's own cast of `msg` came back in the order (in view `orderedIn`): the client
   * hears it was accepted. Not a later issue's cast, still in flight (RPC seed 99610138; the
   * arguments it was decoded with stay for the apply).
   */
  ordered(msg: RequestMsg, orderedIn: AppliedView): void {
    if (!this.castLater(msg)) this.inflight.delete(msg.id);
    this.host.link.send(msg.client, {
      kind: 'accepted',
      id: msg.id,
      viewId: orderedIn.id,
      members: orderedIn.members,
      ordered: true,
      issue: msg.issue,
    });
  }

  /**
   * Request `msg` is being applied here: the arguments this member decoded and validated when the
   * call came in, if it cast this very issue (a copy of an earlier issue, from a caller that reused
   * the id with other arguments, is decoded from its own bytes, as everywhere else). The cast is
   * no longer in flight, unless a later issue's is.
   */
  applying(msg: RequestMsg, self: string | undefined): Extract<Resolved, { ok: true }> | undefined {
    const mine = msg.contact === self ? this.castArgs.get(msg.id) : undefined;
    const cast = mine?.issue === msg.issue ? mine.resolved : undefined;
    if (!this.castLater(msg)) {
      this.castArgs.delete(msg.id);
      this.inflight.delete(msg.id);
    }
    return cast;
  }

  /**
   * A fence of `id` up to `upTo` was applied: a later query may cast another, unless this
   * member's own fence of a later issue is still in flight (an earlier fence, its own or
   * another member's, says nothing of that cast: FINDINGS 177).
   */
  fenceApplied(id: string, upTo: number): void {
    const mine = this.fencing.get(id);
    if (mine && mine.upTo > upTo) return;
    this.fencing.delete(id);
  }

  /** One of this member's request casts was delivered: the next batch may go. */
  batchDelivered(): void {
    this.batcher.delivered();
  }

  /** A new view: calls waiting for a batch go now (the cast they waited for may be lost). */
  viewInstalled(): void {
    this.batcher.reset();
  }

  /**
   * Cut off from the group: nothing this member cast is in flight any more. Fences cast in the
   * history that ended are in its order or lost with it: the rejoined member casts again when
   * asked, rather than wait `recastMs` for a cast no order will deliver (a client asking it heard
   * non-final `not-found`s meanwhile; FINDINGS 92).
   */
  cutOff(): void {
    this.inflight.clear();
    this.fencing.clear();
    this.batcher.drop();
    this.castArgs.clear();
  }

  /** A client packet reached this member (step 1 of a call, docs/rpc.md). */
  onPacket(bytes: Uint8Array, from: string): void {
    const decoded = readClientPacket(
      bytes,
      this.host.groupId(),
      this.host.auth,
      this.host.counters,
      this.host.endpoint(),
      (reason) => this.refuseClient(bytes, from, reason),
    );
    if (!decoded) return;
    const packet = decoded.packet;
    if (TO_CLIENT.has(packet.kind)) {
      this.host.counters.malformed++; // a member-to-client kind sent to a member
      return;
    }
    // Without a key the source address may be forged (FINDINGS 192): only a packet that carries
    // this member's cookie for it is served whole, and only its sender becomes a client (is told
    // the views to come).
    const proven = this.host.link.proven(from, decoded.cookie);
    // A joiner has a view before its state arrives, and a rejoining member a stale table: until
    // it applied a view of its current incarnation it would answer wrongly. A proven hello is
    // kept all the same: the view pushed once this member serves echoes its nonce, which is how
    // a keyless client takes a view only this member and its like can tell it.
    if (!this.host.serving()) {
      if (proven && packet.kind === 'hello') this.host.link.heard(from, packet.nonce);
      return;
    }
    if (proven) this.host.link.touch(from);
    switch (packet.kind) {
      case 'hello':
        this.host.link.hello(from, packet, bytes.length, proven);
        return;
      case 'outcome?':
        // One that may fence (an ordered cast at every member, FINDINGS 192's review) only from a
        // proven address; others within 3 times their bytes.
        if (!proven && packet.upTo) this.host.link.cookieNotice(from, bytes.length);
        else if (this.speaks()) this.answerOutcome(packet, from, proven ? undefined : bytes.length);
        return;
    }
    // A call, served (cast, and answered by every member its mode names) only for an address
    // proven: the others answer it towards the address its contact proved.
    if (!proven) {
      this.host.link.cookieNotice(from, bytes.length);
      return;
    }
    switch (packet.kind) {
      case 'call':
        this.onCall(packet, from);
        return;
      case 'calls':
        // One client's calls of one turn: ordered together (a lone cast, or one batch).
        this.batcher.hold();
        try {
          for (const call of packet.calls) this.onCall(call, from);
        } finally {
          this.batcher.release();
        }
        return;
    }
  }

  /**
   * A client packet of another group, or one that does not verify (another key, or one side
   * without a key), gets a refusal notice: the client's `connect` then fails at once with why
   * ({@link ForeignGroupError}, {@link KeyMismatchError}) instead of "no contact" after its
   * timeout. At most {@link REFUSALS_PER_SEC} a second, unsigned (docs/protocol.md, "Refusal
   * notices"); never for a malformed or replayed packet.
   */
  private refuseClient(bytes: Uint8Array, from: string, why: DropReason): void {
    const group = this.host.group();
    if (!group || (why !== 'foreign' && why !== 'unauthenticated')) return;
    let h: { type: number; flags: number; groupId: number };
    try {
      h = decodeFixedHeader(bytes);
    } catch {
      return;
    }
    if (h.type !== PacketType.Client) return;
    const reason: Refusal['reason'] =
      h.groupId !== this.host.groupId() >>> 0 ? 'group' : keyRefusal(this.host.auth !== undefined, h.flags);
    const refusal = encodeRefusal(
      this.host.groupId(),
      this.host.endpoint(),
      reason,
      this.host.auth?.keyId ?? '',
      group.groupName,
    );
    // Unsigned, to an address nothing proved: within 3 times the packet (a 24-byte one drew 82
    // bytes naming a 36-character group; a client's hello is larger than that).
    if (refusal.length > HELLO_AMPLIFICATION * bytes.length || !this.refusalTokens.take(this.host.clock()))
      return;
    this.host.counters.refusalsSent++;
    group.sendRaw(from, refusal);
  }

  /** A client's call: answer it if known, refuse it if invalid, else order it or answer the query. */
  private onCall(p: CallPacket, from: string): void {
    const group = this.host.group();
    if (!group?.view) return; // not serving yet: the client retransmits or moves on
    if (p.to !== undefined && p.to !== group.self) {
      this.host.counters.misdirected++;
      return;
    }
    if (p.service === OBSERVE_SERVICE) {
      // Anyone can ask a keyless group (any key holder a keyed one), from any source address it
      // can put on a datagram: a 60-byte `status` drew a 2.2 KB answer (more as the member's
      // history grows), unbounded, a reflector 37 times the bytes sent. Tools ask a few a second.
      if (!this.observeTokens.take(this.host.clock())) {
        this.host.counters.observeLimited++;
        return;
      }
      // Without a key the asker is anyone: the answer names no client (FINDINGS 225).
      const result = this.host.observe.answer!(p.method, p.args, this.host.auth === undefined);
      const { id: viewId, members } = group.view;
      this.host.link.send(from, {
        kind: 'reply',
        id: p.id,
        member: group.self,
        viewId,
        members: [...members],
        result,
      });
      return;
    }
    // Past here every answer is of the group's history: only a member that speaks for it now
    // gives one, or casts for it (the client asks again, or another member).
    if (!this.speaks()) return;
    requestStep.received(this.host.observe, p.id, from);
    const known = this.host.outcomes().get(p.id);
    if (known) {
      this.host.counters.deduplicated++;
      this.host.replyFromTable(p.id, known, from, this.host.applied());
      return;
    }
    // Already in the order (a handler still running, or delivered and not yet applied): say so.
    // A delivered copy of an earlier issue than this call's may yet be refused by a fence: that
    // says nothing of this issue, which is cast (if both run, the second is answered from the table).
    const issue = p.issue ?? 0;
    const running = this.host.pendingView(p.id);
    const queued = this.host.queued(p.id);
    const orderedIn = running ?? (queued && queued.issue >= issue ? queued : undefined);
    if (orderedIn) {
      this.host.link.send(from, {
        kind: 'accepted',
        id: p.id,
        viewId: orderedIn.id,
        members: orderedIn.members,
        ordered: true,
        issue: running ? issue : queued!.issue,
      });
      return;
    }
    const castAt = this.inflight.get(p.id);
    if (castAt !== undefined && this.host.clock() - castAt < this.recastMs) {
      // The ack will come; if the call still waits for a batch, the batch goes now.
      this.batcher.nudge(p.id);
      return;
    }

    const resolved = this.host.dispatcher.resolve(p.service, p.method, p.args);
    if (!resolved.ok) {
      this.host.link.send(from, { kind: 'reject', id: p.id, member: group.self, result: resolved.result });
      return;
    }
    if (resolved.entry.ordered) {
      if (p.history !== undefined && group.history !== undefined && p.history !== group.history) {
        // First sent into another history of the group: it may have run there, and that
        // history's record of it is not ours (a re-founding lost it, or it is a lineage that
        // yields). Not ordered: the view tells the client which history this is, and the client
        // asks what became of the request instead (docs/rpc.md, "When the whole group loses its
        // majority"; RPC seed 402000095: a reissue sent before the client knew of the re-founding
        // ran a second time).
        this.host.counters.otherHistory++;
        this.host.link.tellView(from);
        return;
      }
      const msg: RequestMsg = {
        kind: 'request',
        id: p.id,
        service: p.service,
        method: p.method,
        args: p.args,
        mode: p.mode,
        client: from,
        contact: group.self,
        ts: Math.max(0, Math.floor(this.host.clock())),
        settled: p.settled,
        keep: p.keep,
        issue,
      };
      this.inflight.set(p.id, this.host.clock());
      this.castArgs.set(p.id, { issue, resolved });
      if (this.castArgs.size > CAST_ARGS) this.castArgs.delete(this.castArgs.keys().next().value as string);
      requestStep.cast(this.host.observe, p.id);
      const entry = resolved.entry;
      const qos = p.mode === 'first' || p.mode === 'none' ? entry.contactQos : entry.qos;
      this.batcher.submit(p.id, encodeGroupMsg(msg), qos, from);
      return;
    }
    this.onQuery(p, resolved.entry, resolved.args, from);
  }

  /**
   * Whether this member cast a later issue of request `msg.id` than the copy `msg` (ordered or
   * applied here). That copy then says nothing of the cast, which stays in flight: a fence may
   * refuse the copy, and had its mark gone, the client's next retransmission of the later issue
   * was cast again (RPC seeds 99600101, 99610138: two copies of one issue in the order, the
   * second answered from the table; FINDINGS 150).
   */
  private castLater(msg: RequestMsg): boolean {
    const ours = this.castArgs.get(msg.id);
    return ours !== undefined && ours.issue > msg.issue;
  }

  /**
   * The group refused to cast request `id` even alone: it will never be ordered. It is no longer
   * this member's cast in flight (an outcome query gets `not-found`, not `pending` forever), and a
   * request too large for the group's `maxMessage` is refused to its client with that error (a
   * retransmission would meet the same refusal until the call's deadline). Other refusals (the
   * member left) get no answer: the client fails over.
   */
  private onRefused(id: string, error: unknown, client: string | undefined): void {
    this.inflight.delete(id);
    this.castArgs.delete(id);
    if (client === undefined || !(error instanceof TroupeError) || error.code !== 'MESSAGE_TOO_LARGE') return;
    const member = this.host.group()?.self;
    if (member) this.host.link.send(client, { kind: 'reject', id, member, result: failure(error) });
  }

  /** An unordered query: answered here from local state; in `all`/`majority` also by every other member. */
  private onQuery(p: CallPacket, entry: MethodEntry, args: unknown[], from: string): void {
    const group = this.host.group()!;
    const view = group.view!;
    // The client counts `all`/`majority` replies against this view; `none` hears only this.
    if (p.mode !== 'first')
      this.host.link.send(from, {
        kind: 'accepted',
        id: p.id,
        viewId: view.id,
        members: [...view.members],
        ordered: false,
      });
    if (p.mode === 'none') return;
    if (p.mode === 'all' || p.mode === 'majority') {
      const { id, service, method, args: bytes, mode } = p;
      const fwd: ForwardMsg = {
        kind: 'forward',
        id,
        service,
        method,
        args: bytes,
        mode,
        client: from,
        viewId: view.id,
      };
      const payload = encodeGroupMsg(fwd);
      for (const m of view.members) if (m !== group.self) group.send(m, payload);
    }
    this.answerQuery(p.id, entry, args, from);
  }

  private answerQuery(id: string, entry: MethodEntry, args: unknown[], client: string): void {
    const group = this.host.group()!;
    const view = group.view!;
    const ctx = this.host.context(id, entry, { id: view.id, members: [...view.members] }, this.host.clock());
    // A query's answer is a read of the group's state: not from a member that cannot speak for
    // it when the answer is ready (an async query settles later).
    const reply = (result: Result) => {
      if (this.speaks())
        this.host.link.send(client, {
          kind: 'reply',
          id,
          member: group.self,
          viewId: view.id,
          members: [...view.members],
          result,
        });
    };
    const r = this.host.dispatcher.run(entry, args, ctx);
    if (r instanceof Promise) r.then(reply).catch(() => this.host.counters.internalErrors++);
    else reply(r);
  }

  /**
   * Whether this member may answer clients for the group's history now (`GroupHandle.speaking`;
   * `replica.unspoken` counts each time it may not): a member that ran on after a stop may hold
   * a view whose others re-founded the group without it (FINDINGS 167).
   */
  speaks(): boolean {
    if (this.host.group()?.speaking !== false) return true;
    this.host.counters.unspoken++;
    return false;
  }

  /**
   * @param unproven without a key, the bytes of a query that did not carry this member's cookie:
   * its answer goes only within 3 times that ({@link ClientLink.sendWithin}).
   */
  private answerOutcome(query: OutcomeQueryPacket, from: string, unproven?: number): void {
    const view = this.host.group()?.view;
    if (!view) return;
    const send = (p: OutcomePacket) =>
      unproven === undefined ? this.host.link.send(from, p) : this.host.link.sendWithin(from, p, unproven);
    const { id, q, upTo } = query;
    const base = {
      kind: 'outcome' as const,
      id,
      member: this.host.group()!.self,
      viewId: view.id,
      members: [...view.members],
      fenced: [],
      ...(q !== undefined ? { q } : {}),
      // Answered in the form the query was asked in: a client of an earlier release reads no more.
      ...(upTo !== undefined ? { fencedUpTo: this.host.outcomes().fenced(id) } : {}),
    };
    const known = this.host.outcomes().get(id);
    if (known?.status === 'committed') {
      send({
        ...base,
        status: 'committed',
        result: known.result,
        orderedIn: known.viewId,
      });
    } else if (known) {
      send({
        ...base,
        status: known.status,
        result: undefined,
        orderedIn: known.status === 'interrupted' ? known.viewId : undefined,
      });
    } else {
      const pending = this.host.pendingView(id) ?? this.host.queued(id);
      // Cast by this member and not yet delivered: it will be ordered (or this member fails),
      // so `not-found` would be false.
      const cast = this.inflight.has(id);
      if (!pending && !cast && upTo) this.fence(id, upTo);
      send({
        ...base,
        status: pending || cast ? 'pending' : 'not-found',
        result: undefined,
        orderedIn: pending?.id,
      });
    }
  }

  /**
   * Has the group refuse copies of `id` of issues up to `upTo` from here on in the order (an
   * ordered `fence`), so a `not-found` answered after it is final (docs/rpc.md, "Issues and fencing"). Cast
   * again only after `recastMs`, while not yet applied.
   */
  private fence(id: string, upTo: number): void {
    const group = this.host.group();
    const now = this.host.clock();
    const castAt = this.fencing.get(id)?.at;
    if (
      !group ||
      upTo <= this.host.outcomes().fenced(id) ||
      (castAt !== undefined && now - castAt < this.recastMs)
    )
      return;
    this.fencing.delete(id);
    this.fencing.set(id, { at: now, upTo });
    if (this.fencing.size > FENCES) this.fencing.delete(this.fencing.keys().next().value as string);
    const fence = {
      kind: 'fence' as const,
      id,
      upTo,
      by: group.self,
      at: Math.max(0, Math.floor(now)),
    };
    // Majority, as calls are: a fence is answered on (a final `not-found`) once applied, so it
    // must be in every later view's order. Delivered without acks, a sequencer cut off alone
    // applied its own fence, answered, and the majority then ordered the fenced copy instead
    // (RPC seed 8004686).
    group.cast(encodeGroupMsg(fence), DEFAULT_CALL_QOS);
  }

  /** The contact of an unordered `all`/`majority` query forwarded it here: answer it too. */
  answerForwarded(msg: ForwardMsg): void {
    const resolved = this.host.dispatcher.resolve(msg.service, msg.method, msg.args);
    if (!resolved.ok || resolved.entry.ordered) return;
    this.answerQuery(msg.id, resolved.entry, resolved.args, msg.client);
  }
}
