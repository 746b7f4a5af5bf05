/**
 * Prometheus metrics of one member (or client) through `prom-client`: the counters the layers,
 * the group, the replica and the client keep in their `stats()` (read at scrape time, so the
 * hot path pays nothing for them), and latency histograms fed by the observer's events.
 * Every name is listed, with its type and meaning, in docs/observability.md.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { BucketHistogram } from './histogram.js';

type Kind = 'counter' | 'gauge';

/**
 * Every stat the runtime's `stats()` objects hold, by source (a layer, `stack`, `group`,
 * `transport`, `replica`, `client`): its metric type and what it counts. Stats in ms are
 * exported in seconds, percentages as ratios (`unitOf`). A stat missing here (a new layer's) is
 * still exported, as
 * `troupe_unlisted_stat{source, stat}`.
 */
export const STAT_METRICS: Record<string, Record<string, [Kind, string, string?]>> = {
  stack: { refused: ['counter', 'Inputs a layer refused as malformed (DecodeError).'] },
  group: {
    refused: ['counter', 'Group-level messages (state transfer headers) refused as malformed.'],
    snapshotFailed: ['counter', 'State snapshots for joiners that failed (the joiners are told).'],
  },
  fc: {
    // Named apart from the `queued` gauge, whose family name `troupe_fc_queued` it would share.
    queuedTotal: ['counter', 'Casts that waited for flow-control credit.', 'troupe_fc_casts_queued_total'],
    creditsSent: ['counter', 'Credit messages sent.'],
    creditsReceived: ['counter', 'Credit messages received.'],
    staleCredits: ['counter', 'Credit messages of an older view, ignored.'],
    suspects: ['counter', 'Members flow control asked membership to remove for blocking casts too long.'],
    queued: ['gauge', 'Casts waiting for credit now.'],
    queuedBytes: ['gauge', 'Bytes of casts waiting for credit now.'],
    blockedMs: ['counter', 'Time casts spent blocked waiting for credit.'],
    creditsMin: ['gauge', 'Smallest credit left towards any member.'],
  },
  total: {
    ordered: ['counter', 'Messages delivered in the total order.'],
    acks: [
      'counter',
      'Token passes (ACKs) applied; their rate is the token rotation rate times the members.',
    ],
    emptyAcks: ['counter', 'Token passes that stamped nothing (kept moving for stability).'],
    skippedAtViewEnd: ['counter', 'Stamped messages no survivor held at a view end.'],
    orderedAtViewEnd: ['counter', 'Unstamped messages ordered deterministically at a view end.'],
    recastAtViewEnd: ['counter', 'Own ordered casts past the cut of a view, cast again in the next one.'],
    held: ['gauge', 'Messages received and waiting for the token or their resilience.'],
    stamped: ['gauge', 'Messages stamped in the current view.'],
  },
  seq: {
    ordered: ['counter', 'Messages delivered in the total order.'],
    orders: ['counter', 'Orders (batches of stamps) this member multicast as the sequencer.'],
    acks: ['counter', "Other members' announcements of what they hold (Acks) received."],
    skippedAtViewEnd: ['counter', 'Stamped messages no survivor held at a view end.'],
    orderedAtViewEnd: ['counter', 'Unstamped messages ordered deterministically at a view end.'],
    recastAtViewEnd: ['counter', 'Own ordered casts past the cut of a view, cast again in the next one.'],
    lagReports: ['counter', 'Members the sequencer reported as lagging behind its stamps.'],
    lagRemovals: ['counter', 'Members the sequencer asked membership to remove for lagging.'],
    lagMsMax: ['gauge', 'Largest lag behind the stamps (seconds) the sequencer measured of any member.'],
    stallsSent: [
      'counter',
      'Stall complaints this member cast: an ordered message waited too long for its stamp.',
    ],
    stallsReceived: ['counter', 'Stall complaints about the sequencer received from other members.'],
    sequencerRemovals: ['counter', 'Times this member asked membership to remove a stalled sequencer.'],
    stampWaitMsMax: [
      'gauge',
      'Longest wait (seconds) of a received ordered message for its stamp, measured here.',
    ],
    paceComplaints: ['counter', 'Checks at which this member found the sequencer setting the pace.'],
    stallsExcused: [
      'counter',
      'Stall checks that excused a wait for a message the sequencer said it never received.',
    ],
    stampLatePctMax: [
      'gauge',
      'Largest share (ratio of 1) of the pace window in which the stamps were late here.',
    ],
    held: ['gauge', 'Messages received and waiting for their stamp or their resilience.'],
    stamped: ['gauge', 'Messages stamped in the current view.'],
  },
  gms: {
    views: ['counter', 'Views installed by this member incarnation.'],
    flushes: ['counter', 'Flushes run (view changes after the first view).'],
    flushDeferred: ['counter', 'Flush judgements put off because this member itself had stalled.'],
    flushResent: ['counter', 'Prepares and Syncs sent again to participants that had not answered them.'],
    flushSpared: [
      'counter',
      'Heard participants a flush timeout spared once, trying again without the silent ones first.',
    ],
    promisesKept: ['counter', 'Views installed from a flush this member had left, its promise kept.'],
    flushOutbid: ['counter', 'Flushes this member restarted above a higher attempt a participant took.'],
    valuesAdopted: [
      'counter',
      "Flushes this member coordinated that installed a promised attempt's view, not their own.",
    ],
    stuckReports: ['counter', 'Members reported blocked in a flush nobody drives (coordinator only).'],
    stuckProbes: [
      'counter',
      "Pings sent to a member whose heartbeat said it is stuck: only its Pong's answer counts (coordinator only).",
    ],
    forwards: ['counter', 'Messages forwarded during flushes.'],
    suspicions: ['counter', 'Members this member suspected.'],
    futureDropped: ['counter', 'Messages of a future view dropped (bound reached).'],
    staleDropped: ['counter', 'Messages of an older view dropped.'],
    refused: ['counter', 'Implausible view ids or epochs (too far ahead) refused.'],
    joinsRefused: ['counter', 'Joins refused because the coordinator tracked too many joiners.'],
    joinsUnproven: [
      'counter',
      'Joins whose nonce was not the one the coordinator sent to that joiner and address.',
    ],
    claimsUnproven: [
      'counter',
      "Word of a group (Here, Lineage) a joiner did not let hold back founding: its address never answered the joiner's Joins.",
    ],
    installsResent: ['counter', 'Installs sent again to a view member still joining (its Install lost).'],
    pinsRefused: [
      'counter',
      "Proofs of a sender's address that pinned nothing while joining: a Here outside the seeds, or a pin made elsewhere already.",
    ],
    installsUnproven: [
      'counter',
      'Installs refused while joining: not bound to a founder, and no Here proved the sender address.',
    ],
    lineagesMet: ['counter', 'Beacons of another lineage of the group that this lineage wins over.'],
    holds: ['counter', 'Long stops of this member after which it held deliveries until its view answered.'],
    holdsJudged: ['counter', 'Holds ended after partitionMs without a majority of Pongs (last resort).'],
    heldHighWater: ['gauge', 'Most messages membership ever held at once.'],
    held: ['gauge', 'Messages membership holds now (flush logs).'],
    future: ['gauge', 'Messages of a future view held now.'],
    viewId: ['gauge', 'The installed view id.'],
  },
  frag: {
    fragmented: ['counter', 'Messages split into fragments.'],
    fragmentsSent: ['counter', 'Fragments sent.'],
    reassembled: ['counter', 'Messages reassembled.'],
    fragmentsReceived: ['counter', 'Fragments received.'],
    abandoned: ['counter', 'Partial messages abandoned after a loss below.'],
    orphans: ['counter', 'Fragments dropped whose message start was never seen.'],
    strangersDropped: [
      'counter',
      'Streams and partial messages of senders outside the view dropped to stay within bounds.',
    ],
    partials: ['gauge', 'Messages being reassembled now.'],
    partialBytes: ['gauge', 'Bytes of messages being reassembled now.'],
  },
  stable: {
    gossipSent: ['counter', 'Stability gossip messages sent.'],
    gossipReceived: ['counter', 'Stability gossip messages received.'],
    staleGossip: ['counter', 'Gossip of an older view ignored.'],
    gossipUnproven: [
      'counter',
      'Gossip of our view not echoing our report nonce, ignored (forged, or its reporter had not heard our heartbeat yet).',
    ],
    stableEvents: ['counter', 'Stable-prefix announcements (buffers freed).'],
    unstable: ['gauge', 'Delivered messages not yet stable.'],
    reporters: ['gauge', 'Members whose gossip is known in this view.'],
  },
  nak: {
    sent: ['counter', 'Messages sent on reliable streams.'],
    delivered: ['counter', 'Messages delivered in FIFO order.'],
    duplicates: ['counter', 'Duplicate messages dropped.'],
    naksSent: ['counter', 'Negative acknowledgements (repair requests) sent.'],
    retransmits: ['counter', 'Messages retransmitted on request.'],
    evicted: ['counter', 'Buffered messages evicted before stable (bound reached).'],
    lost: ['counter', 'Messages declared unrecoverable.'],
    misdirected: ['counter', 'Messages for another member incarnation dropped.'],
    bufferHighWater: ['gauge', 'Most messages ever buffered for repair.'],
    buffered: ['gauge', 'Messages buffered for repair now.'],
    pending: ['gauge', 'Out-of-order messages waiting for a gap to fill now.'],
    pendingCapped: ['counter', 'Out-of-order messages dropped at a byte cap (NAKed again later).'],
    strangersEvicted: ['counter', 'Streams of senders outside the view dropped (bound reached).'],
    pendingBytes: ['gauge', 'Payload bytes held out of order over all incoming streams now.'],
    inStreams: ['gauge', 'Incoming streams tracked now.'],
    naksForwarded: ['counter', "NAKs sent to another member after the sender's repairs were lost."],
    repairsForOthers: ['counter', 'Messages of other senders resent to a receiver that asked.'],
    strangerNaks: ['counter', "NAKs for this member's casts from senders outside the view, ignored."],
    held: ['gauge', "Copies of other members' casts held until stable, to repair others."],
    syncsSent: ['counter', 'Syncs sent: incoming streams whose random origin was asked of their sender.'],
    strangerSyncs: [
      'counter',
      "Syncs for this member's cast stream from senders outside the view, not answered.",
    ],
    echoesRefused: ['counter', "Origins and Gones that did not echo the stream's nonce, refused."],
    syncsAbandoned: [
      'counter',
      "Members' streams whose Syncs went unanswered 32 times: what they held was dropped.",
    ],
    naksBelowOrigin: [
      'counter',
      "NAK ranges from below where this member's stream began, not served (a forger's).",
    ],
    claimsDropped: [
      'counter',
      'Gaps only a Session claimed, dropped after 8 NAK rounds in a row repaired none of them.',
    ],
    syncsWithheld: [
      'counter',
      'Syncs not sent: the sender was outside the view and no join point, view or pin pins it yet.',
    ],
    strangerOrigins: [
      'counter',
      'Origins from a sender outside the view, for a stream it may not be asked for, refused.',
    ],
    unsynced: ['gauge', 'Incoming streams held until their sender says where they begin, now.'],
  },
  batch: {
    casts: ['counter', 'Casts taken into a batch (reliable, FIFO and totally ordered casts).'],
    batches: ['counter', 'Batches of two or more casts sent as one message.'],
    batched: ['counter', 'Casts sent in those batches.'],
    unbatched: ['counter', 'Casts sent alone (the only one of their turn and QoS).'],
  },
  pack: {
    messages: ['counter', 'Messages packed.'],
    packets: ['counter', 'Packets sent by pack.'],
    unpacked: ['counter', 'Messages unpacked from received packets.'],
  },
  com: {
    sent: ['counter', 'Packets sent.'],
    received: ['counter', 'Packets received.'],
    refused: ['counter', 'Packets refused as malformed.'],
    foreignGroup: ['counter', 'Packets of another group dropped.'],
    refusalsSent: ['counter', 'Refusal notices sent to joiners of another group or key.'],
    echoes: ['counter', 'Own IP multicast echoes dropped.'],
    noAddress: ['counter', 'Sends to a member without a known address dropped.'],
    unauthenticated: ['counter', 'Packets refused by authentication.'],
    replayed: ['counter', 'Authentic packets refused as replays.'],
    staleAddress: ['counter', 'Authentic old packets from a new address refused.'],
    stale: ['counter', 'Authentic packets refused because their time is too far from this clock.'],
    strangerLimited: ['counter', 'Packets of new senders outside the view dropped by the admission rate.'],
    strangersEvicted: ['counter', 'Addresses of senders outside the view forgotten (bound reached).'],
    strangers: ['gauge', 'Senders outside the view whose address is known now.'],
    knownAddresses: ['gauge', 'Member addresses known.'],
    authSenders: ['gauge', 'Senders with a replay window.'],
    authEvicted: ['counter', 'Replay windows evicted (bound reached).'],
    unknownSender: [
      'counter',
      'Authentic packets of senders without a handshake yet refused (sender challenged).',
    ],
    addressMismatch: [
      'counter',
      "Without a key: packets in a view member's name from another address refused.",
    ],
    pinMismatch: [
      'counter',
      "Without a key, before the first view: packets in a pinned sender's name from another address refused.",
    ],
    hsChallenged: ['counter', 'Handshake challenges sent.'],
    hsAnswered: ['counter', 'Handshake challenges answered.'],
    hsLearnt: ['counter', 'Handshake answers that set a sender window and clock offset.'],
    hsAnswersLimited: ['counter', 'Handshake challenges left unanswered by the answer rate.'],
    hsRefused: ['counter', 'Handshake packets refused (not verifying, malformed, or no open challenge).'],
  },
  transport: {
    sent: ['counter', 'Datagrams or frames sent.'],
    received: ['counter', 'Datagrams or frames received.'],
    dropped: ['counter', 'Datagrams or frames dropped (errors, oversize).'],
  },
  replica: {
    applied: ['counter', 'Ordered requests whose method ran here.'],
    deduplicated: ['counter', 'Requests answered from the outcome table instead of running again.'],
    malformed: ['counter', 'Client packets dropped as undecodable or invalid.'],
    foreign: ['counter', 'Client packets of another group (or not client packets) dropped.'],
    badGroupMessages: ['counter', 'Group messages that failed to decode.'],
    internalErrors: ['counter', 'Internal errors caught (should stay 0).'],
    undeclaredAsync: ['counter', 'Methods found async though not declared async (should stay 0).'],
    misdirected: ['counter', 'Calls addressed to another member incarnation dropped.'],
    unauthenticated: ['counter', 'Client packets refused by authentication.'],
    replayed: ['counter', 'Authentic client packets refused as replays.'],
    unordered: ['counter', 'Group messages refused for not coming the way their kind must (e.g. unordered).'],
    impersonated: ['counter', 'Group messages refused for naming another member than their sender.'],
    fenced: ['counter', 'Ordered copies of requests refused because a fence names their contact.'],
    refusalsSent: ['counter', 'Refusal notices sent to clients of another group or key.'],
    observeLimited: ['counter', 'Observability queries (status, trace, check) dropped past 20 a second.'],
    otherHistory: [
      'counter',
      'Calls first sent into another history of the group (lost by a re-founding), not ordered.',
    ],
    unspoken: [
      'counter',
      'Client packets ignored and answers not sent while this member could not speak for the group.',
    ],
    hellosPadded: [
      'counter',
      'Keyless hellos answered with a pad notice: the view is over 3 times the hello (the client pads and asks again).',
    ],
    cookieNotices: [
      'counter',
      'Keyless client packets answered with a cookie notice: no cookie for their address (a call is not served until it carries one).',
    ],
    requestCasts: ['counter', 'Ordered casts of client requests made as contact (one request or a batch).'],
    requestsCast: ['counter', 'Client requests those casts carried (÷ request casts: the mean batch).'],
    requestsRefused: [
      'counter',
      'Client requests the group refused to cast even alone (e.g. over maxMessage).',
    ],
    applyRunningMs: [
      'gauge',
      'How long the async method now running here has run (0: none); later requests wait behind it.',
    ],
    applyQueued: ['gauge', 'Delivered messages and views waiting in the apply queue.'],
    appliedView: ['gauge', 'The view this replica applies now (the last view change taken from the order).'],
    appliedInView: [
      'gauge',
      'Requests taken from the order since that view (members at one view compare: who trails).',
    ],
  },
  client: {
    sent: ['counter', 'Client packets sent.'],
    retransmits: ['counter', 'Call retransmissions.'],
    malformed: ['counter', 'Packets dropped as undecodable, invalid or of the wrong direction.'],
    foreign: ['counter', 'Packets of another group or from an unknown address dropped.'],
    stray: ['counter', 'Valid packets about requests no longer pending.'],
    staleOutcomes: [
      'counter',
      'Pending or not-found outcome answers to an earlier query of the same request, not taken.',
    ],
    unauthenticated: ['counter', 'Packets refused by authentication.'],
    replayed: ['counter', 'Authentic packets refused as replays.'],
    failovers: ['counter', 'Contacts that failed (fail-overs).'],
    untrusted: ['counter', 'Views refused: not from the member they name, or not continuing the known view.'],
    refusals: ['counter', 'Refusal notices from seeds while looking for a contact (another group or key).'],
    rtoMs: ['gauge', 'Retransmission timeout now (smoothed round trip plus four deviations, bounded).'],
  },
};

/**
 * How a stat's value is exported: in base units, as Prometheus asks. A stat ending in `Ms` is
 * in seconds (`…_seconds`); `…MsMax` (the largest so far) in seconds too (`…_max_seconds`);
 * `…PctMax` (a largest percentage) as a ratio of 1 (`…_max_ratio`).
 */
function unitOf(stat: string): { base: string; suffix: string; scale: number } {
  if (stat.endsWith('MsMax')) return { base: `${stat.slice(0, -5)}Max`, suffix: '_seconds', scale: 1 / 1000 };
  if (stat.endsWith('PctMax')) return { base: `${stat.slice(0, -6)}Max`, suffix: '_ratio', scale: 1 / 100 };
  if (stat.endsWith('Ms')) return { base: stat.slice(0, -2), suffix: '_seconds', scale: 1 / 1000 };
  return { base: stat, suffix: '', scale: 1 };
}

/**
 * The Prometheus name of a stat: `troupe_<source>_<snake_case>`, with its unit (`unitOf`), and
 * `_total` for counters; or the name the table gives.
 */
export function statMetricName(source: string, stat: string, kind: Kind): string {
  const named = STAT_METRICS[source]?.[stat]?.[2];
  if (named) return named;
  const { base, suffix } = unitOf(stat);
  const snake = base.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return `troupe_${source}_${snake}${suffix}${kind === 'counter' ? '_total' : ''}`;
}

/** Something with `stats()`: a group (layers and transport), a replica, a client. */
export type StatsSource = () => Record<string, Record<string, number>>;

const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const SLOW_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BYTE_BUCKETS = [1024, 16_384, 131_072, 1_048_576, 8_388_608, 67_108_864, 536_870_912];

/** The metrics of one observer, in their own registry. */
export class Metrics {
  readonly registry: Registry;
  readonly callDuration: BucketHistogram<'method' | 'mode' | 'outcome'>;
  readonly orderLatency: BucketHistogram;
  readonly requestOrderLatency: BucketHistogram;
  readonly applyDuration: BucketHistogram<'method'>;
  readonly flushDuration: BucketHistogram;
  readonly stateTransferDuration: BucketHistogram;
  readonly stateTransferBytes: BucketHistogram;
  readonly viewChanges: Counter;
  readonly partitions: Counter;
  readonly divergences: Counter;
  readonly divergenceChecks: Counter;
  readonly divergentReplies: Counter;
  private readonly sources = new Map<string, StatsSource>();
  private snapshot: { at: number; stats: Map<string, Record<string, number>> } | undefined;

  constructor(registry = new Registry(), options: { processMetrics?: boolean } = {}) {
    this.registry = registry;
    const registers = [registry];
    this.callDuration = new BucketHistogram({
      name: 'troupe_client_call_duration_seconds',
      help: 'Client call round trip: invoke to settled promise.',
      labelNames: ['method', 'mode', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requestOrderLatency = new BucketHistogram({
      name: 'troupe_replica_order_latency_seconds',
      help: "At the contact: a call's receipt to its delivery in the total order.",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.applyDuration = new BucketHistogram({
      name: 'troupe_replica_apply_duration_seconds',
      help: 'Time a replica spent running a method (start to recorded outcome).',
      labelNames: ['method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.orderLatency = new BucketHistogram({
      name: 'troupe_group_order_latency_seconds',
      help: "A member's own totally ordered cast: Group.cast to its delivery (ordering included).",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.flushDuration = new BucketHistogram({
      name: 'troupe_group_flush_duration_seconds',
      help: 'A flush at this member: casts blocked to the next view installed.',
      buckets: SLOW_BUCKETS,
      registers,
    });
    this.stateTransferDuration = new BucketHistogram({
      name: 'troupe_group_state_transfer_duration_seconds',
      help: "A joiner's state transfer: its first view to its state restored.",
      buckets: SLOW_BUCKETS,
      registers,
    });
    this.stateTransferBytes = new BucketHistogram({
      name: 'troupe_group_state_transfer_bytes',
      help: 'Size of the state a joiner received.',
      buckets: BYTE_BUCKETS,
      registers,
    });
    this.viewChanges = new Counter({
      name: 'troupe_group_view_changes_total',
      help: 'Views installed at this member, across incarnations.',
      registers,
    });
    this.partitions = new Counter({
      name: 'troupe_group_partitions_total',
      help: 'Times this member was cut off (minority partition, exclusion, stalled state transfer).',
      registers,
    });
    this.divergences = new Counter({
      name: 'troupe_replica_divergences_total',
      help: 'Divergence checks whose state digests differed.',
      registers,
    });
    this.divergenceChecks = new Counter({
      name: 'troupe_replica_divergence_checks_total',
      help: 'Divergence checkpoints judged at this replica (all digests in).',
      registers,
    });
    this.divergentReplies = new Counter({
      name: 'troupe_client_divergent_replies_total',
      help: 'Ordered all/majority calls whose members answered differently.',
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'troupe_' });
  }

  /**
   * Exports `read()`'s stats at scrape time, each under its name in {@link STAT_METRICS}.
   * `read` returns stats by source (`{ nak: {...}, com: {...} }`).
   */
  watchStats(key: string, read: StatsSource): void {
    const first = this.sources.size === 0;
    this.sources.set(key, read);
    const stats = this.read();
    for (const [source, values] of stats)
      for (const stat of Object.keys(values)) this.ensureStat(source, stat);
    if (first) this.ensureUnlisted();
  }

  /** Gauges computed at scrape time from `read`. */
  gauge(name: string, help: string, read: () => number | undefined): void {
    if (this.registry.getSingleMetric(name)) return;
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        const v = read();
        if (v === undefined) this.reset();
        else this.set(v);
      },
    });
  }

  private read(): Map<string, Record<string, number>> {
    const now = performance.now();
    // One scrape reads each source once, not once per metric.
    if (this.snapshot && now - this.snapshot.at < 50) return this.snapshot.stats;
    const stats = new Map<string, Record<string, number>>();
    for (const read of this.sources.values()) {
      try {
        for (const [source, values] of Object.entries(read())) stats.set(source, values);
      } catch {
        // A source that cannot report now (closed) simply has no values this scrape.
      }
    }
    this.snapshot = { at: now, stats };
    return stats;
  }

  private value(source: string, stat: string): number | undefined {
    const v = this.read().get(source)?.[stat];
    if (v === undefined || !Number.isFinite(v)) return undefined;
    return v * unitOf(stat).scale;
  }

  private ensureStat(source: string, stat: string): void {
    const listed = STAT_METRICS[source]?.[stat];
    if (!listed) return; // exported by troupe_unlisted_stat
    const [kind, help] = listed;
    const name = statMetricName(source, stat, kind);
    if (this.registry.getSingleMetric(name)) return;
    const value = () => this.value(source, stat);
    if (kind === 'gauge') {
      this.gauge(name, help, value);
      return;
    }
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        // The source's own counter is the truth (it restarts at 0 with a new incarnation,
        // which Prometheus reads as a counter reset).
        this.reset();
        const v = value();
        if (v !== undefined) this.inc(v);
      },
    });
  }

  private ensureUnlisted(): void {
    const read = () => this.read();
    new Gauge({
      name: 'troupe_unlisted_stat',
      help: 'A stat of a layer or source not yet in the metrics table (docs/observability.md).',
      labelNames: ['source', 'stat'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [source, values] of read())
          for (const [stat, v] of Object.entries(values))
            if (!STAT_METRICS[source]?.[stat] && Number.isFinite(v)) this.set({ source, stat }, v);
      },
    });
  }
}
