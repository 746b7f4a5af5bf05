/**
 * A client's picture of its group (step 5 of a call in client.ts): the view it knows, the member
 * it sends its calls to (its *contact*), and how it finds another. The client greets candidates
 * with `hello`s and takes the first member that answers with a view it trusts as its contact;
 * heartbeats watch the contact, and one silent for `contactTimeoutMs` (or gone from the view) is
 * suspected and replaced, the seeds asked again once every member known is suspected. A view is
 * trusted only from the member it names at its own address, and adopted only when it continues
 * the view known (or comes from the member chosen after all known ones failed: a re-founded
 * group). While no contact answers, refusal notices from the seeds (another group, another key)
 * end {@link ClientMembership.ready} with why.
 *
 * The calls are the client's: this tells it when a contact was chosen, when a view was adopted
 * and when its contact failed ({@link MembershipHost}), and it decides what becomes of them.
 */

import { memberId } from '../stack/member.js';
import type { PacketAuth } from '../wire/auth.js';
import type { Endpoint } from '../wire/packet.js';
import { REFUSAL_GRACE_MS, type Refusal, readRefusal, refusalError } from '../wire/refusal.js';
import type { ClientTimers } from './client-options.js';
import { NoContactError, RpcConfigError } from './errors.js';
import {
  type ClientPacket,
  HELLO_AMPLIFICATION,
  HELLO_MAX_BYTES,
  HELLO_MIN_BYTES,
  MIN_ADVERTISED_DATAGRAM,
  paddedHello,
  type ViewPacket,
  WANTS_HISTORY,
} from './protocol.js';

/** The membership the client knows. */
export interface ClientView {
  id: number;
  members: readonly string[];
  addresses: readonly string[];
}

/** The member a client sends its calls to, at its address. */
export interface Contact {
  member: string;
  address: string;
}

/** What the membership reads of its client and tells it. */
export interface MembershipHost {
  /** The group's name and the seeds as written (`ConnectOptions`), for errors. */
  readonly group: string;
  readonly seeds: readonly string[];
  readonly contactTimeoutMs: number;
  /** How often {@link ClientMembership.heartbeat} runs (ms). */
  readonly heartbeatMs: number;
  readonly connectTimeoutMs: number;
  readonly auth: PacketAuth | undefined;
  readonly counters: { untrusted: number; failovers: number; refusals: number };
  readonly time: ClientTimers;
  /** The largest packet the client's transport takes. */
  maxDatagram(): number;
  /** A sentence for a {@link NoContactError} that heard nothing, on what in the client's own set-up may be why; `''`. */
  silenceHint(): string;
  /** Without a key: a fresh hello nonce, unguessable: 52 random bits, in [2^52, 2^53). */
  nonce(): number;
  /** Sends `p` to `to`; `addressed: false` for a hello to a seed while looking for the group. */
  send(to: string, p: ClientPacket, addressed?: boolean): void;
  closed(): boolean;
  /** A contact was chosen: the calls waiting for one go to it. */
  contactChosen(c: Contact): void;
  /** A view was adopted: calls waiting on their members' replies may be complete. */
  viewAdopted(): void;
  /** The contact failed (suspected and counted already): its calls fail over. */
  contactLost(c: Contact): void;
}

/**
 * Bytes of hello above a third of the last view heard: room for a few more members before a
 * member answers with a `pad` notice.
 */
const HELLO_SLACK = 32;

/** Nonces kept per address: a view echoing one of the last few hellos sent there is an answer. */
const NONCES_KEPT = 8;
/**
 * Least time one nonce serves the hellos to an address: a new one at most this often, so the
 * nonces kept span {@link NONCES_KEPT} of these whatever the heartbeat, and an answer slower than
 * 8 heartbeats is still one (review36b: a 440 ms round trip with hellos every 50 ms left the
 * RPC simulator's clients with no view at all).
 */
const NONCE_ROTATE_MS = 500;
/** Addresses whose nonces are kept (the seeds' and the views'; a bound all the same). */
const NONCE_ADDRESSES = 1024;
/** Least time between two hellos to one address that a view echoing nothing of ours makes us send. */
const CONFIRM_MS = 100;

export class ClientMembership {
  private currentView: ClientView | undefined;
  /** Without a key: the nonces of the latest hellos to each address, newest last, and when each was made. */
  private readonly nonces = new Map<string, { nonce: number; at: number }[]>();
  /** Without a key: when a view that echoed nothing of ours last made us ask its address. */
  private readonly confirmAsked = new Map<string, number>();
  /** The seeds' addresses, as last resolved (`host.seeds` keeps them as written). */
  private seedAddrs: readonly string[];
  private resolving = false;
  private resolvedAt: number;
  /**
   * Member → the largest packet its transport takes, from its `view` (a member of an earlier
   * release says nothing). A call must fit the smallest of the known view's and our own.
   */
  private readonly memberLimits = new Map<string, number>();
  /** The smallest of {@link memberLimits} (Infinity when none). */
  private memberMax = Number.POSITIVE_INFINITY;
  /** Lineages of the group this client followed: bumped when it adopts a re-founded group's view. */
  private lineage_ = 0;
  /** {@link history}. */
  private history_ = 0;
  /** The history the members of the known view said last (undefined: none said one yet). */
  private groupHistory: number | undefined;
  /** Since when the client has had no contact (undefined while it has one). */
  private contactlessSince: number | undefined;
  private contact_: Contact | undefined;
  private readonly heard = new Map<string, number>();
  /** When {@link heartbeat} last ran. */
  private lastBeat: number | undefined;
  /** Failed contacts' addresses → when suspected; not picked again for a while. */
  private readonly suspects = new Map<string, number>();
  /** {@link ready}'s waiters: each wants a contact and a view of at least `members` members. */
  private readonly contactWaiters: Array<{
    members: number;
    resolve: () => void;
    reject: (e: Error) => void;
  }> = [];
  /**
   * Seeds that refused this client (another group or key) while it had no contact, and the
   * addresses that sent it a packet that decoded (with a key: verified, so a refusal from one is
   * forged). A refusal fails {@link ready} once {@link REFUSAL_GRACE_MS} pass with no contact and
   * every address that answered refused.
   */
  private readonly refusals = new Map<string, Refusal>();
  private readonly answered = new Set<string>();
  private refusalGrace: unknown;
  /** What a keyless hello is padded to ({@link helloBytes}). */
  private helloSize = HELLO_MIN_BYTES;

  /**
   * @param seeds the seeds' addresses, resolved.
   * @param resolver resolves `host.seeds` again while no contact answers (`ConnectOptions.resolve`).
   */
  constructor(
    private readonly host: MembershipHost,
    seeds: readonly string[],
    private readonly resolver: ((seeds: readonly string[]) => Promise<string[]>) | undefined,
  ) {
    this.seedAddrs = [...seeds];
    this.resolvedAt = host.time.now();
  }

  /** The view last learned from the group. */
  get view(): ClientView | undefined {
    return this.currentView;
  }

  /** The member the client sends its calls to, if one answered. */
  get contact(): Contact | undefined {
    return this.contact_;
  }

  /** Lineages followed: a request's ordering view is of the lineage it was accepted in. */
  get lineage(): number {
    return this.lineage_;
  }

  /**
   * Histories of the group this client followed: bumped when a member of the view it knows says
   * its state belongs to another history than the one a member said before ({@link
   * ViewPacket.history}): the group was founded again (after it lost its majority, or a losing
   * lineage joined the winner), and what only the earlier history ordered may be lost (docs/rpc.md,
   * "When the whole group loses its majority"). A view sharing no member with the one before is
   * not enough: a client that missed every view of a continuing history while all the members it
   * knew were replaced sees that too (real-process chaos seed 3911, FINDINGS 224). Members of an
   * earlier release say no history: nothing is counted then.
   */
  get history(): number {
    return this.history_;
  }

  /** The number of the history the members of the known view said last (undefined: none yet). */
  get historyId(): number | undefined {
    return this.groupHistory;
  }

  /**
   * A packet from `from` decoded (and, with a key, verified): while the client looks for a
   * contact, it is an address that speaks for this group, whose refusal would be forged.
   */
  answeredBy(from: string): void {
    if (!this.contact_ && this.answered.size < 64) {
      this.answered.add(from);
      if (this.host.auth) this.refusals.delete(from);
    }
  }

  /**
   * A packet other than a view came from `from`, naming `member` as its sender if it does: the
   * address is alive. A view is heard from its member only once trusted ({@link onView}): a view
   * spoofed from an address must not keep a silent contact alive. Nor does a packet from the
   * contact's address naming another member: a new incarnation there answers outcome queries,
   * but drops the calls sent to the contact as misdirected (sim seed 5001480).
   */
  heardFrom(from: string, member: string | undefined): void {
    const c = this.contact_;
    if (c !== undefined && from === c.address && member !== undefined && member !== c.member) return;
    this.heard.set(from, this.host.time.now());
  }

  /** Stops the refusal timer. */
  close(): void {
    if (this.refusalGrace !== undefined) this.host.time.clear(this.refusalGrace);
  }

  /**
   * Resolves once a contact answered and the view known has at least `members` members; rejects
   * with `NoContactError` after `timeoutMs`, or with the refusal once every seed that answered
   * refused (`TroupeClient.ready`, which this serves).
   */
  ready(options: number | { timeoutMs?: number; members?: number } = {}): Promise<void> {
    const { timeoutMs = this.host.connectTimeoutMs, members = 1 } =
      typeof options === 'number' ? { timeoutMs: options } : options;
    if (!Number.isInteger(members) || members < 1)
      return Promise.reject(new RpcConfigError(`ready: members must be a positive integer, got ${members}`));
    if (this.readyFor(members)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        members,
        resolve: () => {
          this.host.time.clear(t);
          resolve();
        },
        reject: (e: Error) => {
          this.host.time.clear(t);
          reject(e);
        },
      };
      const t = this.host.time.after(timeoutMs, () => {
        const i = this.contactWaiters.indexOf(waiter);
        if (i >= 0) this.contactWaiters.splice(i, 1);
        const view = this.currentView;
        reject(
          this.refusedError() ??
            new NoContactError(
              this.contact_ && view
                ? `the view of group '${this.host.group}' had ${view.members.length} of the ${members} members waited for after ${timeoutMs} ms (view ${view.id}: ${view.members.join(' ')})`
                : `no member of group '${this.host.group}' answered within ${timeoutMs} ms (seeds: ${this.host.seeds.join(', ')})${this.host.silenceHint()}`,
            ),
        );
      });
      this.contactWaiters.push(waiter);
    });
  }

  private readyFor(members: number): boolean {
    return this.contact_ !== undefined && (this.currentView?.members.length ?? 0) >= members;
  }

  /** Resolves the {@link ready} waiters whose view has come. */
  private wakeReady(): void {
    if (this.contactWaiters.length === 0) return;
    for (const w of this.contactWaiters.filter((x) => this.readyFor(x.members))) {
      this.contactWaiters.splice(this.contactWaiters.indexOf(w), 1);
      w.resolve();
    }
  }

  /** The error of the refusals heard, if every address that answered refused. */
  private refusedError(): Error | undefined {
    const [first] = this.refusals;
    if (!first || this.contact_) return undefined;
    for (const a of this.answered) if (!this.refusals.has(a)) return undefined;
    return refusalError(
      this.host.group,
      this.host.seeds,
      first[0],
      first[1],
      this.host.auth?.keyId ?? '',
      'client',
    );
  }

  /** A refusal notice (runtime/wire/refusal.ts): from a seed, while looking for a contact. */
  onRefusal(bytes: Uint8Array, from: string): void {
    const r = readRefusal(bytes);
    if (!r || this.contact_ || !this.seedAddrs.includes(from)) return;
    if (this.host.auth && this.answered.has(from)) return; // it spoke for this group under our key
    this.host.counters.refusals++;
    this.refusals.set(from, r);
    if (this.refusalGrace !== undefined) return;
    this.refusalGrace = this.host.time.after(REFUSAL_GRACE_MS, () => {
      this.refusalGrace = undefined;
      const e = this.refusedError();
      if (e) for (const w of this.contactWaiters.splice(0)) w.reject(e);
    });
  }

  /**
   * A hello to `to`: the view we know, and the largest packet our transport takes; without a
   * key also a nonce, which the member's views to us echo (see {@link onView}).
   */
  hello(to: string): ClientPacket {
    const p: ClientPacket = {
      kind: 'hello',
      viewId: this.currentView?.id ?? 0,
      maxDatagram: this.host.maxDatagram(),
      wants: WANTS_HISTORY,
    };
    if (this.host.auth) return p;
    const now = this.host.time.now();
    const sent = this.nonces.get(to) ?? [];
    const last = sent[sent.length - 1];
    let nonce: number;
    if (last && now - last.at < NONCE_ROTATE_MS && now >= last.at) nonce = last.nonce;
    else {
      nonce = this.host.nonce();
      sent.push({ nonce, at: now });
      if (sent.length > NONCES_KEPT) sent.shift();
    }
    this.nonces.delete(to);
    this.nonces.set(to, sent);
    if (this.nonces.size > NONCE_ADDRESSES) this.nonces.delete(this.nonces.keys().next().value as string);
    return { ...p, nonce };
  }

  /**
   * Whether view `p` from `from` answers a hello of ours: with a key, any authenticated one does;
   * without, it echoes the nonce of one of our latest hellos to that address, which an attacker
   * off the path between us cannot know (the source address alone proves nothing).
   */
  answers(p: ViewPacket, from: string): boolean {
    if (this.host.auth) return true;
    const echo = p.echo;
    return echo !== undefined && (this.nonces.get(from)?.some((n) => n.nonce === echo) ?? false);
  }

  /**
   * A view from `from` that answers no hello of ours (a member's push after its hello's nonce
   * left our list, or a forgery): we ask `from` ourselves, at most once per {@link CONFIRM_MS},
   * so forged views cannot make us send more than that (and only to addresses we know).
   */
  private confirm(from: string): void {
    const now = this.host.time.now();
    if (now - (this.confirmAsked.get(from) ?? Number.NEGATIVE_INFINITY) < CONFIRM_MS) return;
    this.confirmAsked.delete(from);
    this.confirmAsked.set(from, now);
    if (this.confirmAsked.size > NONCE_ADDRESSES)
      this.confirmAsked.delete(this.confirmAsked.keys().next().value as string);
    this.host.send(from, this.hello(from), false);
  }

  /**
   * Without a key, the bytes a hello is padded to: enough for a member to answer with a view of
   * up to {@link HELLO_AMPLIFICATION} times it. Set from the size of the last view heard, raised
   * by a member's `pad` notice.
   */
  helloBytes(): number {
    return this.helloSize;
  }

  /** A view packet of `bytes` bytes came: hellos are padded for a view that size and a little larger. */
  viewBytes(bytes: number): void {
    this.helloSize = this.clampHello(Math.ceil(bytes / HELLO_AMPLIFICATION) + HELLO_SLACK);
  }

  /**
   * A member at `from` answered a keyless hello with a `pad` notice: its view needs `need`
   * bytes of hello ({@link paddedHello}); the hello goes again at once only when it grew.
   */
  onPad(need: number, from: string): void {
    if (this.host.auth) return; // a member under the key answers any hello whole
    const grown = paddedHello(this.helloSize, need, this.host.maxDatagram());
    if (grown <= this.helloSize) return;
    this.helloSize = grown;
    this.host.send(from, this.hello(from), false);
  }

  private clampHello(bytes: number): number {
    return Math.max(HELLO_MIN_BYTES, Math.min(bytes, HELLO_MAX_BYTES, this.host.maxDatagram()));
  }

  /** The largest packet a call may be: our transport's, or less if a member of the view said so. */
  maxPacket(): number {
    return Math.min(this.host.maxDatagram(), this.memberMax);
  }

  heartbeat(): void {
    const now = this.host.time.now();
    for (const [addr, at] of this.suspects)
      if (now - at > 10 * this.host.contactTimeoutMs) this.suspects.delete(addr);
    // More than two periods since the last beat: this client did not run (a long GC pause, a
    // blocked event loop, a stopped process). Due timers run before the sockets are read, so what
    // the contact sent meanwhile is still unread: its silence is ours. Its clock restarts here,
    // as the sequencer's late stall checks restart theirs; a contact that did go silent is left
    // one timeout later.
    const late = this.lastBeat !== undefined && now - this.lastBeat > 2 * this.host.heartbeatMs;
    this.lastBeat = now;
    const c = this.contact_;
    if (!c) {
      this.findContact();
      return;
    }
    if (late) this.heard.set(c.address, Math.max(this.heard.get(c.address) ?? 0, now));
    if (now - (this.heard.get(c.address) ?? 0) > this.host.contactTimeoutMs) {
      this.contactFailed(c);
      return;
    }
    this.host.send(c.address, this.hello(c.address));
  }

  /**
   * A member's view. The client trusts a view only from a member that speaks for itself at its
   * own address in it (with a key: whose authenticated packet names that member as sender), and
   * adopts it when it continues the view it knows: a higher id from a member it knows (without a
   * key also sharing a majority of the known view, members at the same addresses), or any view
   * from the member it is choosing as contact after every member it knew failed (a re-founded
   * group restarts view ids at 1). A spoofed view naming only an attacker is dropped.
   */
  onView(p: ViewPacket, from: string, sender: Endpoint): void {
    if (!this.speaksForItself(p, from, sender)) {
      this.host.counters.untrusted++;
      return;
    }
    const cur = this.currentView;
    const c = this.contact_;
    if (!this.answers(p, from)) {
      // Without a key, a view that answers no hello of ours moves nothing (it may be spoofed
      // from the member's address: review36's forged continuing view made an attacker the
      // contact); a new one makes us ask its sender, whose answer will echo our nonce. Nor is
      // its sender heard, its datagram limit kept, or it chosen as contact (review36b: a
      // spoofed copy of the known view kept an unreachable contact heard for good, and one
      // saying 1,200 bytes refused every larger call).
      if (!cur || p.viewId !== cur.id || !sameView(cur, p)) this.confirm(from);
      return;
    }
    if (c && from === c.address && p.member !== c.member) {
      // The contact's address answers as another member: with a key, that incarnation of the
      // contact is gone; without one, the packet may be spoofed, so the contact is only not heard.
      if (this.host.auth) this.contactFailed(c);
    } else this.heard.set(from, this.host.time.now());
    const known = cur !== undefined && addressIn(cur, p.member) === from;
    if (!cur) {
      if (!this.seedAddrs.includes(from)) return;
      this.adopt(p, false);
    } else if (
      p.viewId > cur.id &&
      (known || this.host.auth !== undefined) &&
      (this.host.auth || continues(p, cur))
    ) {
      this.adopt(p, false);
    } else if (
      !this.contact_ &&
      (this.host.auth ||
        this.seedAddrs.includes(from) ||
        (cur.addresses.includes(from) && (known || this.lost()))) &&
      (!known || p.viewId > cur.id)
    ) {
      // Choosing a contact after its own failed: the member it picks speaks for the group now,
      // a stranger from another lineage (a re-founded group) or a known member with a view
      // the client could not chain to its own (it missed views in between). Without a key, from
      // a seed or an address of the known view: no less an address the group was at than a
      // seed is, and the one a group re-founded by its surviving processes answers at (their
      // new incarnations keep their addresses) when every seed is gone (chaos seed 3516). A
      // stranger there only once the search is lost: until then a member the client knows may
      // yet answer, and a stranger's view may be a late copy of an earlier incarnation's there,
      // naming the members of long ago (review36).
      this.adopt(p, !known && p.viewId <= cur.id);
    }
    const v = this.currentView;
    if (!v || addressIn(v, p.member) !== from) return;
    this.noteHistory(p.history);
    // A member of the known view, at its address, on what its transport takes: kept while it is
    // in the view (adopt prunes the rest), so a departed member's smaller limit does not outlive it.
    if (p.maxDatagram !== undefined && p.maxDatagram >= MIN_ADVERTISED_DATAGRAM) {
      this.memberLimits.set(p.member, p.maxDatagram);
      this.memberMax = Math.min(...this.memberLimits.values());
    }
    if (this.contact_ && !v.members.includes(this.contact_.member)) {
      this.contactFailed(this.contact_);
      return;
    }
    if (!this.contact_ && !this.suspects.has(from)) {
      this.contact_ = { member: p.member, address: from };
      this.contactlessSince = undefined;
      // What was refused while looking is moot now; a later search starts afresh.
      this.refusals.clear();
      this.answered.clear();
      this.host.contactChosen(this.contact_);
      this.wakeReady();
    }
  }

  /**
   * A member of the known view, at its address, said which history its state belongs to: a
   * member id names one incarnation, whose state settles in one history, so two members that say
   * different ones are of two histories, and the later one speaks now.
   */
  private noteHistory(h: number | undefined): void {
    if (h === undefined || h === this.groupHistory) return;
    if (this.groupHistory !== undefined) this.history_++;
    this.groupHistory = h;
  }

  /**
   * Whether view `p` comes from the member it names, at its own address in it (with a key: whose
   * authenticated packet names that member as sender): the least a view must show to be read.
   */
  speaksForItself(p: ViewPacket, from: string, sender: Endpoint): boolean {
    const self = p.members.indexOf(p.member);
    return self >= 0 && p.addresses[self] === from && (!this.host.auth || memberId(sender) === p.member);
  }

  /** `p` becomes the known view; `rebase`: of another lineage (a re-founded group), whatever its id. */
  private adopt(p: ViewPacket, rebase: boolean): void {
    const cur = this.currentView;
    if (cur && cur.id === p.viewId && !rebase && sameView(cur, p)) return;
    if (rebase && cur) this.lineage_++;
    this.currentView = { id: p.viewId, members: p.members, addresses: p.addresses };
    if (this.memberLimits.size > 0) {
      for (const m of this.memberLimits.keys()) if (!p.members.includes(m)) this.memberLimits.delete(m);
      this.memberMax = Math.min(...this.memberLimits.values());
    }
    this.host.viewAdopted();
    this.wakeReady();
  }

  private contactFailed(c: Contact): void {
    if (this.contact_?.address !== c.address) return;
    this.contact_ = undefined;
    this.suspects.set(c.address, this.host.time.now());
    this.host.counters.failovers++;
    this.host.contactLost(c);
    this.findContact();
  }

  /**
   * Says hello to every candidate: the first to answer with its view becomes the contact. Once
   * every member of the known view is suspected, or none answered for `contactTimeoutMs`, the
   * seeds are asked too: the group may live on elsewhere (re-founded, or moved). Every address
   * is then asked unaddressed, as in a first hello: whoever is there now may be another
   * incarnation than the member the known view names at that address (a group re-founded at
   * the same addresses), and would refuse a hello addressed to that member.
   */
  findContact(): void {
    const v = this.currentView;
    const now = this.host.time.now();
    this.contactlessSince ??= now;
    const candidates = this.candidates();
    const lost = this.lost();
    const targets = new Set(candidates.length > 0 ? candidates : (v?.addresses ?? []));
    const seeds = lost || !v ? this.seedAddrs : [];
    for (const a of seeds) targets.delete(a);
    for (const a of targets) this.host.send(a, this.hello(a), !lost);
    for (const a of seeds) this.host.send(a, this.hello(a), false);
    this.refreshSeeds();
  }

  /** The addresses a search asks first: the known view's (the seeds' before one), less the suspects. */
  private candidates(): string[] {
    const v = this.currentView;
    return (v ? v.addresses : this.seedAddrs).filter((a) => !this.suspects.has(a));
  }

  /**
   * Whether the search for a contact is lost: every candidate suspected, or none answered for
   * `contactTimeoutMs`. Then the seeds are asked too, and a stranger at an address of the known
   * view is heard.
   */
  private lost(): boolean {
    if (this.contact_ || this.contactlessSince === undefined) return false;
    return (
      this.candidates().length === 0 ||
      this.host.time.now() - this.contactlessSince >= this.host.contactTimeoutMs
    );
  }

  /**
   * Resolves the seeds again while the client looks for a contact (see
   * {@link ConnectOptions.resolve}): one lookup at a time, at most one per `contactTimeoutMs`.
   * A failed lookup keeps the addresses it had; a new address is greeted at once.
   */
  private refreshSeeds(): void {
    const now = this.host.time.now();
    if (!this.resolver || this.resolving || now - this.resolvedAt < this.host.contactTimeoutMs) return;
    this.resolving = true;
    this.resolvedAt = now;
    const done = () => {
      this.resolving = false;
    };
    const resolver = this.resolver;
    Promise.resolve(this.host.seeds)
      .then(resolver)
      .then((addrs) => {
        done();
        const fresh = addrs.filter((a) => !this.seedAddrs.includes(a));
        this.seedAddrs = addrs;
        if (this.contact_ || this.host.closed()) return;
        for (const a of fresh) this.host.send(a, this.hello(a), false);
      }, done);
  }

  /** A member of the ordering view is known to have left: a newer view (or lineage) does not hold it. */
  departed(member: string, ordered: { viewId: number; lineage: number }): boolean {
    const v = this.currentView;
    const newer = v !== undefined && (ordered.lineage < this.lineage_ || v.id > ordered.viewId);
    return newer && !v.members.includes(member);
  }

  addressOf(member: string): string | undefined {
    const v = this.currentView;
    if (!v) return undefined;
    const i = v.members.indexOf(member);
    return i >= 0 ? v.addresses[i] : undefined;
  }

  knownAddress(from: string): boolean {
    return this.seedAddrs.includes(from) || (this.currentView?.addresses.includes(from) ?? false);
  }
}

/** Address of `member` in `v`, if it is a member. */
function addressIn(v: ClientView, member: string): string | undefined {
  const i = v.members.indexOf(member);
  return i >= 0 ? v.addresses[i] : undefined;
}

function sameView(v: ClientView, p: ViewPacket): boolean {
  return v.members.length === p.members.length && v.members.every((m, i) => p.members[i] === m);
}

/**
 * Without a key, whether `p` can be the group's successor of `v`: a new view keeps a majority
 * of the one before (the primary-partition rule), at the same addresses. A view naming only an
 * attacker, or remapping members to other addresses, does not.
 */
function continues(p: ViewPacket, v: ClientView): boolean {
  let kept = 0;
  p.members.forEach((m, i) => {
    if (addressIn(v, m) === p.addresses[i]) kept++;
  });
  return kept > v.members.length / 2;
}
