import type { MemberId } from '../../stack/member.js';
import type { LineagePosition } from '../../stack/types.js';
import { hereHeader, joinHeader, lineageHeader } from './codec.js';
import type { GmsShared } from './state.js';

/**
 * Whether lineage `ours` yields to `theirs` when two lineages of a group meet: the later view
 * wins, then the later epoch, then the lower coordinator id. Every member of both decides alike.
 * A lineage that loses a majority of its members can install no further view, so a half-yielded
 * lineage cannot overtake the winner.
 */
export function yieldsTo(ours: LineagePosition, theirs: LineagePosition): boolean {
  if (theirs.viewId !== ours.viewId) return theirs.viewId > ours.viewId;
  if (theirs.epoch !== ours.epoch) return theirs.epoch > ours.epoch;
  return theirs.coordinator < ours.coordinator;
}

/**
 * The lineage watch: without persistence a member that restarts remembers nothing and can found
 * a second group at the same seeds. The coordinator beacons its lineage to every seed its view
 * holds no member at; a member of another lineage that hears it compares the two (`yieldsTo`),
 * and the weaker one's members stop and rejoin the stronger as joiners, taking its state.
 */
export class LineageWatch {
  /** When we last answered another lineage's beacon, per seed address. */
  private readonly answered = new Map<string, number>();
  /** Winning lineages' beacons waiting for their address to prove it receives, per seed address
   * (see {@link verify}). */
  private readonly claims = new Map<string, { theirs: LineagePosition; askedAt: number }>();
  private lastBeacon = Number.NEGATIVE_INFINITY;

  constructor(private readonly s: GmsShared) {}

  /** The coordinator's periodic beacon (called from the failure detector's tick). */
  tick(now: number): void {
    const s = this.s;
    const v = s.view;
    // A seed address our view holds is ours: a stale incarnation listed there is dead, and is
    // removed before long, and then its address gets beacons too.
    if (!v || s.coordinatorId() !== s.self || now - this.lastBeacon < s.o.suspectMs) return;
    // A lineage whose coordinator has not judged its view since a long stop may be dead (it
    // lost its majority while the coordinator was stopped): it must not make a live lineage
    // yield. RPC seed 500145: a coordinator stopped 2.1 s ran on and answered the beacon of a
    // group its view's other member had meanwhile founded with a third; that group yielded to
    // it, and the stale coordinator answered a final `not-found` for a call the new group ran.
    if (!s.detector.liveView(now)) return;
    this.lastBeacon = now;
    for (const a of new Set(s.o.seeds)) if (!v.addresses.includes(a)) this.beacon(a);
  }

  /** A beacon heard by a member (a joiner takes it as a `Here`, see Joiner.onLineage). */
  onBeacon(h: unknown[], from: MemberId, address: string): void {
    const s = this.s;
    const m = lineageHeader.decode(h);
    // Only a coordinator speaking for itself: anything else is not a beacon this protocol sends.
    if (from !== m.coordinator || m.address !== address) {
      s.c.refused++;
      return;
    }
    // A joiner takes it as a Here, from wherever it comes (a Here is taken from any member):
    // it only learns where to send its Joins, and admission is the coordinator's. The beacon
    // goes to the coordinator's seeds, so it reaches a joiner whose own seeds were all replaced
    // at new addresses; a seed check here left such a joiner out for good (chaos seed 42).
    if (s.state === 'joining') {
      s.joiner.onLineage(address);
      return;
    }
    // A member yields to it, so a forged one must not come from just anywhere: a seed address.
    if (!s.o.seeds.includes(address)) {
      s.c.refused++;
      return;
    }
    const v = s.view;
    // No view-lead bound here (unlike view-tagged traffic): a lineage that ran for long is far
    // ahead of one founded lately, and they must still merge.
    if (s.state !== 'member' || !v || s.rank(from) >= 0) return;
    const theirs: LineagePosition = { viewId: m.viewId, epoch: m.epoch, coordinator: m.coordinator };
    const ours: LineagePosition = { viewId: v.id, epoch: s.epoch, coordinator: s.coordinatorId() ?? s.self };
    if (theirs.coordinator === ours.coordinator) return;
    if (yieldsTo(ours, theirs)) {
      this.verify(address, theirs);
      return;
    }
    // We win: make sure the other side hears it, even if our coordinator's beacons miss it.
    // Not while our own view is not known to live (see `tick`): theirs may be the live one.
    s.c.lineagesMet++;
    const now = s.ctx.now();
    if (!s.detector.liveView(now)) return;
    if (now - (this.answered.get(address) ?? Number.NEGATIVE_INFINITY) < s.o.suspectMs / 2) return;
    this.answered.set(address, now);
    this.beacon(address);
  }

  /**
   * Before yielding to a beacon, ask its address for proof that it receives there: a Join
   * carrying our challenge, which a member of the other lineage answers with a Here that echoes
   * it (Coordinator.onJoin). Without a key a beacon's source address may be forged, and one
   * beacon per member, from any seed's address (a live member's too) in an invented
   * coordinator's name, made the whole group yield and re-found (FINDINGS 197). The latest claim
   * of each address is the one a Here is held against, so a forged one is replaced by the real
   * beacon that follows; at most one Join per address per `joinRetryMs`.
   */
  private verify(address: string, theirs: LineagePosition): void {
    const s = this.s;
    const now = s.ctx.now();
    const asked = this.claims.get(address)?.askedAt ?? Number.NEGATIVE_INFINITY;
    const due = now - asked >= s.o.joinRetryMs;
    this.claims.set(address, { theirs, askedAt: due ? now : asked });
    if (!due) return;
    s.probe(
      address,
      joinHeader.encode({ vote: '', nonce: '', counts: false, challenge: this.challenge(address), echo: [] }),
    );
  }

  /**
   * A Here from `from` at `address`, heard by a member: the proof {@link verify} asked for, if it
   * echoes our challenge and comes from the beacon's sender or names it as its coordinator (a
   * member that is not its lineage's coordinator answers a beacon in its own name, and its Here
   * names the real coordinator). The Here's own view id is what is proven: a beacon's may be
   * inflated.
   */
  onHere(h: unknown[], from: MemberId, address: string): void {
    const s = this.s;
    const c = this.claims.get(address);
    if (!c) return;
    const here = hereHeader.decode(h);
    if (here.echo !== this.challenge(address)) return;
    // The address receives: what answers there is the truth of it, the claim held or not.
    this.claims.delete(address);
    if (from !== c.theirs.coordinator && here.coordinator !== c.theirs.coordinator) {
      s.c.refused++;
      return;
    }
    const v = s.view;
    if (s.state !== 'member' || !v) return;
    const theirs: LineagePosition =
      here.viewId >= c.theirs.viewId
        ? c.theirs
        : { viewId: here.viewId, epoch: 0, coordinator: c.theirs.coordinator };
    const ours: LineagePosition = { viewId: v.id, epoch: s.epoch, coordinator: s.coordinatorId() ?? s.self };
    // Our lineage may have moved on since the beacon.
    if (!yieldsTo(ours, theirs)) return;
    s.layer.finish(
      'partitioned',
      `another lineage of the group wins: view ${theirs.viewId}.${theirs.epoch} coordinated by ` +
        `${theirs.coordinator} at ${address}, over ours ${ours.viewId}.${ours.epoch} coordinated by ${ours.coordinator}`,
      { ours, theirs },
    );
  }

  /** Our challenge to `address` in this view (GmsShared.challenge). */
  private challenge(address: string): string {
    return this.s.challenge('lineage', this.s.view?.id ?? 0, address);
  }

  private beacon(to: string): void {
    const s = this.s;
    const v = s.view!;
    const c = s.coordinatorId() ?? s.self;
    // A member answering speaks for its coordinator only if it is the coordinator; otherwise
    // it names itself, so the receiver's checks (sender = named coordinator) still hold.
    const m =
      c === s.self
        ? { viewId: v.id, epoch: s.epoch, coordinator: c, address: v.addresses[s.rank(c)] ?? '' }
        : { viewId: v.id, epoch: s.epoch, coordinator: s.self, address: s.o.address };
    s.probe(to, lineageHeader.encode(m));
  }
}
