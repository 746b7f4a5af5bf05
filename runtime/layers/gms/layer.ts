import { StackConfigError } from '../../errors.js';
import { popKindHeader } from '../../stack/header.js';
import type { MemberId } from '../../stack/member.js';
import { requirePositive } from '../../stack/options.js';
import type {
  DownEvent,
  Layer,
  LayerContext,
  LayerFactory,
  LineageMeeting,
  Msg,
  UpEvent,
  ViewDelta,
} from '../../stack/types.js';
import { isWildcard } from '../../transport/address.js';
import { DecodeError } from '../../wire/errors.js';
import { ViewClaims } from './claims.js';
import { GmsKind, installHeader } from './codec.js';
import { Coordinator } from './coordinator.js';
import { Delivery } from './delivery.js';
import { FailureDetector } from './detector.js';
import { Joiner } from './joiner.js';
import { LineageWatch } from './lineage.js';
import { DEFAULTS, type GmsOptions, MAX_VIEW_MEMBERS } from './options.js';
import { Participant } from './participant.js';
import { GmsShared } from './state.js';

export type { GmsOptions } from './options.js';

/**
 * GMS: group membership with virtual synchrony. Heartbeats and silence timeouts find failed
 * members; the coordinator (the lowest-ranked member not suspected) runs a flush so that every
 * survivor delivers the same messages of the old view before the new view is installed, and
 * only a partition holding a majority of the last view goes on.
 *
 * This class is the shell: it routes the stack's events to the role objects (Joiner,
 * FailureDetector, Coordinator, Participant, Delivery; their shared state is GmsShared), and
 * installs views and stops the member, which touch every role.
 */
/**
 * The kinds sent unreliable by design (a heartbeat, an application's unreliable cast, a
 * suspicion, which must not arrive late as if fresh): the rest must come numbered.
 */
const UNNUMBERED: ReadonlySet<number> = new Set([GmsKind.Heartbeat, GmsKind.Unreliable, GmsKind.Suspect]);

export class Gms implements Layer {
  private readonly s: GmsShared;

  constructor(ctx: LayerContext, o: GmsOptions) {
    const s = new GmsShared(ctx, o);
    s.layer = this;
    s.joiner = new Joiner(s);
    s.detector = new FailureDetector(s);
    s.coordinator = new Coordinator(s);
    s.participant = new Participant(s);
    s.delivery = new Delivery(s);
    s.lineage = new LineageWatch(s);
    s.claims = new ViewClaims(s);
    this.s = s;
  }

  down(ev: DownEvent): void {
    const s = this.s;
    switch (ev.type) {
      case 'join':
        s.joiner.start(ev.lastView, ev.admitAfter);
        return;
      case 'suspect':
        s.detector.demand(ev.member);
        return;
      case 'leave':
        s.participant.startLeave();
        return;
      case 'cast':
        s.delivery.cast(ev);
        return;
      case 'send':
        s.delivery.send(ev.to, ev.msg);
        return;
      default:
        s.ctx.passDown(ev);
    }
  }

  up(ev: UpEvent): void {
    const s = this.s;
    if (s.state === 'left' || s.state === 'partitioned') return;
    // A long stop is noticed before any packet is handled: an Install would reset the tick.
    if (s.state === 'member') s.detector.holding(s.ctx.now());
    if (ev.type === 'discovery') {
      // Under a key every packet is its sender's own (see Joiner.keyed).
      if (ev.authenticated === true) s.joiner.keyed = true;
      this.onDiscovery(ev.msg, ev.from, ev.address);
      return;
    }
    if (ev.type === 'stable') {
      s.delivery.onStable(ev.seqs);
      s.ctx.passUp(ev);
      return;
    }
    if (ev.type === 'lost') return; // a flush repairs what the view needs; nothing else is owed
    if (ev.type === 'castNext') {
      s.castNextHeard = ev.seq;
      return;
    }
    if (ev.type !== 'deliver') {
      s.ctx.passUp(ev);
      return;
    }
    const { h, kind, rest } = popKindHeader(ev.msg, 'gms');
    const from = ev.from;
    if (s.view && s.rank(from) >= 0 && s.provesAlive(kind, h)) s.detector.lastHeard.set(from, s.ctx.now());
    if (from === s.self && kind === GmsKind.Data && ev.meta.seq !== undefined)
      s.delivery.lastOwnNakSeq = ev.meta.seq;
    // Every kind but the unreliable ones comes on its sender's reliable stream, numbered
    // (`meta.seq`). One without a number came in an unreliable header: nobody sends that. Taken,
    // it let a forger with a member's source address (no key) put casts in the member's name at
    // any vseq, other ones at each member, and the replicas diverged (test/sim/FINDINGS.md item
    // 176); or exclude the member with one Leave in its name (item 191).
    if (ev.meta.seq === undefined && !UNNUMBERED.has(kind)) {
      s.c.refused++;
      return;
    }
    switch (kind) {
      case GmsKind.Data:
        s.delivery.onData(from, h, rest, ev.meta.seq!);
        return;
      case GmsKind.Heartbeat:
      case GmsKind.Unreliable:
      case GmsKind.P2P:
        s.delivery.onViewTagged(kind, from, h, rest, ev.cast);
        return;
      case GmsKind.Prepare:
        s.participant.onPrepare(from, h);
        return;
      case GmsKind.Digest:
        s.coordinator.onDigest(from, h);
        return;
      case GmsKind.Sync:
        s.participant.onSync(from, h);
        return;
      case GmsKind.Fetch:
        s.participant.onFetch(from, h);
        return;
      case GmsKind.Forward:
        s.participant.onForward(from, h, rest);
        return;
      case GmsKind.FlushOk:
        s.coordinator.onFlushOk(from, h);
        return;
      case GmsKind.Install: {
        const m = installHeader.decode(h);
        if (s.state === 'joining') s.joiner.onInstall(from, m);
        else s.participant.onInstall(from, m);
        if (s.state === 'member' && s.view?.id === m.newViewId && s.view.epoch === m.epoch) s.installed = m;
        return;
      }
      case GmsKind.Leave:
        s.coordinator.onLeave(from, h);
        return;
      case GmsKind.Suspect:
        s.detector.onSuspectReport(from, h);
        return;
      case GmsKind.Found:
        s.joiner.founding.onFound(from, h);
        return;
      case GmsKind.Confirm:
        s.joiner.founding.onConfirm(from, h);
        return;
      case GmsKind.Abandon:
        s.participant.onAbandon(from, h);
        return;
      case GmsKind.Ping:
        s.detector.onPing(from, h);
        return;
      case GmsKind.Pong:
        s.detector.onPong(from, h);
        return;
      default:
        throw new DecodeError('DECODE_BAD_SHAPE', `gms: unexpected kind ${kind}`);
    }
  }

  private onDiscovery(msg: Msg, from: MemberId, address: string): void {
    const s = this.s;
    const { h, kind } = popKindHeader(msg, 'gms');
    if (kind === GmsKind.Join) {
      if (s.state === 'joining') s.joiner.onJoin(from, address, h);
      else s.coordinator.onJoin(from, address, h);
      return;
    }
    if (kind === GmsKind.Here) {
      if (s.state === 'joining') s.joiner.onHere(h, address, from);
      else if (s.state === 'member') {
        s.lineage.onHere(h, from, address);
        s.claims.onHere(h, address);
      }
      return;
    }
    if (kind === GmsKind.Lineage) {
      s.lineage.onBeacon(h, from, address);
      return;
    }
    throw new DecodeError('DECODE_BAD_SHAPE', `gms: unexpected discovery kind ${kind}`);
  }

  /** Make `id` the current view: every role starts over in it. */
  install(
    id: number,
    epoch: number,
    members: MemberId[],
    addresses: string[],
    delta: ViewDelta,
    departed: MemberId[],
  ): void {
    const s = this.s;
    s.view = { id, members, addresses, epoch };
    s.epoch = epoch;
    // A flushed view's epoch is its attempt's key: a member new to the group learns how far its
    // attempts went, else it refuses the next Prepare as invented (MAX_ATTEMPT_LEAD).
    s.highestAttempt = Math.max(s.highestAttempt, Math.floor(epoch / 4096));
    s.suspected = new Set();
    s.claims.newView();
    s.delivery.newView();
    s.participant.newView();
    s.ctx.clearTimer('flushTimeout');
    s.coordinator.newView(members, departed);
    const now = s.ctx.now();
    s.detector.newView(members, departed, now);
    s.state = 'member';
    s.c.views++;
    s.ctx.clearTimer('join');
    s.ctx.trace(() => `install view ${id} [${members.join(',')}]`);
    s.ctx.passDown({ type: 'view', view: s.view });
    s.ctx.passDown({ type: 'nonces', viewId: id, own: s.reportNonce()!, heard: new Map() });
    for (const m of departed) s.ctx.passDown({ type: 'forget', member: m });
    s.detector.reportSpeaking(now);
    s.ctx.passUp({ type: 'view', view: s.view, delta });
    s.ctx.setTimer('fd', s.o.heartbeatMs);
    if (!s.participant.leaving) s.delivery.releaseBlocked();
    else {
      s.participant.leaveSent = undefined;
      s.coordinator.leavers.add(s.self);
      s.participant.askToLeave();
    }
    if (!s.delivery.replayFuture()) return;
    // Membership changes that arrived during the flush start the next one.
    if (s.coordinatorId() === s.self && (s.coordinator.joiners.size > 0 || s.coordinator.leavers.size > 0))
      s.coordinator.scheduleFlush();
  }

  /** Stop this member: it left, or it can no longer be in the group (a new member must join);
   * `yielded` when it met another lineage of the group that wins (see LineageWatch). */
  finish(state: 'left' | 'partitioned', reason = '', yielded?: LineageMeeting): void {
    const s = this.s;
    if (s.state === 'left' || s.state === 'partitioned') return;
    // Release our participants at once rather than leaving them to the orphan rule.
    s.coordinator.drop();
    s.state = state;
    for (const k of ['join', 'fd', 'flushStart', 'flushTimeout', 'leave', 'behind']) s.ctx.clearTimer(k);
    s.delivery.clear();
    if (state === 'left') s.ctx.passUp({ type: 'left' });
    else
      s.ctx.passUp({
        type: 'partitioned',
        viewId: s.view?.id ?? 0,
        reason,
        ...(yielded ? { yielded } : {}),
      });
  }

  timer(key: string): void {
    const s = this.s;
    switch (key) {
      case 'join':
        s.joiner.timer();
        return;
      case 'fd':
        s.detector.timer();
        return;
      case 'flushStart':
        s.coordinator.flushStartTimer();
        return;
      case 'flushTimeout':
        s.coordinator.flushTimeout();
        return;
      case 'leave':
        if (s.participant.leaving) this.finish('left');
        return;
      case 'behind':
        if (s.claims.behindSince !== undefined && s.state === 'member')
          // Not "a view without this member": the later view may list it, its Install lost (the
          // members it asked for it did not resend it in time).
          this.finish('partitioned', 'the group moved to a later view this member did not receive');
        return;
    }
  }

  stats(): Record<string, number> {
    const s = this.s;
    return { ...s.c, ...s.delivery.counts(), viewId: s.view?.id ?? 0 };
  }
}

/**
 * The address this member writes into views. A socket bound to the wildcard (`0.0.0.0:7001`) is
 * reached at one of its interfaces' addresses: the one among the seeds names it. Written as the
 * wildcard, its view entry sent other hosts' fan-out casts to themselves (the founder fell behind
 * the order and was removed) and accounted for no one when a restarted member weighed its memory
 * (FINDINGS 67). A wildcard member that is no seed keeps the wildcard: views list a joiner at the
 * address its Join came from, so only a founder's own entry is written from this.
 */
function advertised(
  address: string,
  aliases: readonly string[] | undefined,
  seeds: readonly string[],
): string {
  if (!isWildcard(address)) return address;
  return aliases?.find((a) => seeds.includes(a)) ?? address;
}

export const gms: LayerFactory<GmsOptions> = {
  name: 'gms',
  provides: ['membership', 'virtual-synchrony'],
  // join-points: the reliable layer says where its cast stream stands and takes a join point
  // (`castNext`, `expect`): a joiner's cast stream comes with the Install (FINDINGS 215).
  requires: ['reliable', 'fifo', 'join-points'],
  create: (ctx, o) => {
    const seeds = o.seeds ?? [];
    const address = o.address ?? '';
    if (!Array.isArray(seeds) || seeds.some((s) => typeof s !== 'string'))
      throw new StackConfigError('STACK_BAD_OPTION', 'gms option seeds must be a list of addresses');
    for (const name of ['aliases', 'seedNames'] as const) {
      const list = o[name];
      if (list !== undefined && (!Array.isArray(list) || list.some((a) => typeof a !== 'string')))
        throw new StackConfigError('STACK_BAD_OPTION', `gms option ${name} must be a list of addresses`);
    }
    if (o.joinSecret !== undefined && (typeof o.joinSecret !== 'string' || o.joinSecret === ''))
      throw new StackConfigError('STACK_BAD_OPTION', 'gms option joinSecret must be a non-empty string');
    const opts: GmsOptions = { ...DEFAULTS, ...o, seeds, address: advertised(address, o.aliases, seeds) };
    requirePositive('gms', opts, Object.keys(DEFAULTS));
    if (opts.maxMembers > MAX_VIEW_MEMBERS)
      throw new StackConfigError(
        'STACK_BAD_OPTION',
        `gms option maxMembers must be at most ${MAX_VIEW_MEMBERS}`,
      );
    if (opts.partitionMs <= opts.suspectMs)
      throw new StackConfigError('STACK_BAD_OPTION', 'gms option partitionMs must exceed suspectMs');
    return new Gms(ctx, opts);
  },
};
