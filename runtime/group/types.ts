import type { MemberId } from '../stack/member.js';
import type { LineageMeeting, QoS, View } from '../stack/types.js';

/**
 * This member met another lineage of its group that wins and left its own to rejoin the
 * winner, whose state replaces its own (docs/protocol.md, "Lineages"): a member that restarted
 * remembering nothing founded a second group at the same seeds. `ours` and `theirs` name each
 * lineage's view and coordinator; `discarded` counts the total-order deliveries this
 * incarnation made in the lineage it leaves, which the winner never had.
 *
 * @example
 * ```ts
 * g.on('partitioned', ({ reason, yielded }) => {
 *   if (yielded) console.error(`lineage merge: ${yielded.discarded} ordered messages dropped: ${reason}`);
 * });
 * ```
 */
export interface LineageYield extends LineageMeeting {
  discarded: number;
}

/** One message delivered to the application. */
export interface Delivery {
  payload: Uint8Array;
  sender: MemberId;
  /** The QoS the sender chose for this message. */
  qos: QoS;
  /** The view the message was delivered in (virtual synchrony: the same at every member). */
  viewId: number;
  /** Position in the view's total order, for `order: 'total'` casts; `gseq` restarts at 0 in each view. */
  gseq?: number;
  /** True for a point-to-point `send`, false for a cast. */
  p2p: boolean;
}

/** A view change, after every survivor delivered the same messages of the previous view. */
export interface ViewChange {
  view: View;
  /** The previous view's id, or undefined for the first view this member installs. */
  previousId: number | undefined;
  joined: MemberId[];
  /** Members that asked to leave. */
  left: MemberId[];
  /** Members removed because they were suspected. */
  failed: MemberId[];
}

/** The failure detector suspects a member (`suspect` event): it was silent too long. */
export interface Suspicion {
  member: MemberId;
  /** How long the member had been silent when it was suspected. */
  silentMs: number;
}

/** The ordering measured a member trailing the group (only the view's sequencer reports). */
export interface Lagging {
  member: MemberId;
  /** How long ago the oldest ordered message the member has not acknowledged was ordered. */
  lagMs: number;
  /** Ordered payload bytes the member has not acknowledged. */
  lagBytes: number;
  /** Past the removal bound: the member is being removed. */
  removing: boolean;
}

/**
 * Where a restored state came from ({@link StateProvider.restore}): the member that sent it, and
 * the member whose independently derived state it is a copy of (`origin`: the provider's own
 * {@link StateProvider.stateOrigin}, or the provider itself). The divergence check counts a
 * copy's digest as one vote with its origin's (docs/observability.md, "Divergence").
 */
export interface StateSource {
  provider: MemberId;
  origin: MemberId;
}

/** State transfer (Birman's Table II): how a joiner receives the state at its join point. */
export interface StateProvider {
  /** The state at this exact point in the delivery order. Called synchronously between two deliveries. */
  snapshot(): Uint8Array;
  /**
   * Install a snapshot taken by another member; called before any delivery of the joiner's first
   * view. `state` may be a view into a larger buffer (read it through its `byteOffset` and
   * `byteLength`, as every `Uint8Array` API does, not through `state.buffer` alone). `source`
   * says who sent it (the group core always gives it; a caller that restores by hand may not).
   */
  restore(state: Uint8Array, source?: StateSource): void;
  /**
   * Optional: when the state a snapshot taken now holds is still an unconfirmed copy of another
   * member's, that member (the origin a joiner restored from it inherits); undefined when this
   * member's state is its own (a founder's, or confirmed by a divergence check since). Sent with
   * the snapshot's chunks (docs/protocol.md, StateChunk).
   */
  stateOrigin?(): MemberId | undefined;
}

/** The events of a {@link Group} (`group.on(name, listener)`), each with its listener's shape. */
export interface GroupEvents {
  /** A message delivered to this member, in the order its QoS asks for. */
  deliver: (d: Delivery) => void;
  /** A new view installed (virtual synchrony: every member of both views delivered the same messages in the old one). */
  view: (v: ViewChange) => void;
  /** The failure detector suspects a member; a view without it usually follows. */
  suspect: (s: Suspicion) => void;
  /** A member trails the group past the lag bound (`HealthOptions`); first reported, then,
   * past the removal bound, removed (`removing`). */
  lagging: (l: Lagging) => void;
  /** This member is in a minority partition or was excluded: it stopped delivering. With
   * `onPartition: 'rejoin'` it rejoins at once as a new member, and `rejoinInMs` says when a
   * running group may admit it again (0: at once; more while exclusions repeat, see
   * `HealthOptions.rejoinDampMs`); meanwhile it helps re-found the group if none runs. */
  partitioned: (info: {
    viewId: number;
    reason: string;
    yielded?: LineageYield;
    rejoinInMs?: number;
    /** Set when the member stopped for good on an error: `MEMBERSHIP_FILE_BAD` (the view could not
     * be written to `JoinOptions.membershipFile`; the member stopped before acknowledging it). */
    code?: string;
  }) => void;
  /** Casts are queued until the next view is installed (a flush is running). */
  block: () => void;
  /** Every member of the view holds each sender's casts up to `seqs[sender]` (its cast-stream
   * position): what lies behind is stable and its retransmission buffers are freed. */
  stable: (s: { seqs: ReadonlyMap<MemberId, number> }) => void;
}

/** A joined member of a group. */
export interface GroupHandle {
  /** This member's id (node and incarnation): a rejoin after a partition takes a new one. */
  readonly self: MemberId;
  /** The name given to `joinGroup`. */
  readonly groupName: string;
  /** This member's transport address. */
  readonly address: string;
  /** The installed view, undefined until the first view. */
  readonly view: View | undefined;
  /**
   * Which history of the group this member's state belongs to, once settled: an opaque number,
   * the same at every member whose state descends from one founding, another after the group is
   * founded again. Absent: unknown (a handle that does not say).
   */
  readonly history?: number | undefined;
  /**
   * Whether this member may answer clients for the group's history now: in a view, running on
   * time, not holding deliveries after a long stop, suspecting no majority (docs/protocol.md,
   * "Speaking for the group"). Absent: always (a handle without membership's judgement).
   */
  readonly speaking?: boolean;
  /** Multicast to the group with a per-message QoS (default `{ order: 'total' }`). */
  cast(payload: Uint8Array, qos?: QoS): void;
  /** Reliable FIFO point-to-point message to one member. */
  send(to: MemberId, payload: Uint8Array): void;
  /** Adds a listener of one of {@link GroupEvents}. */
  on<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void;
  /** Removes a listener `on` added. */
  off<E extends keyof GroupEvents>(event: E, listener: GroupEvents[E]): void;
  /** Client (non-member) packets, `PacketType.Client`, bypass the stack and arrive here. */
  onClientPacket(handler: (bytes: Uint8Array, from: string) => void): void;
  /** Send raw bytes to a transport address (replies to non-member clients). */
  sendRaw(address: string, bytes: Uint8Array): void;
  /** The largest packet `sendRaw` can send (the transport's datagram); unbounded if absent. */
  readonly maxDatagram?: number;
  /** Leave the group cleanly; resolves when the transport is closed. */
  leave(): Promise<void>;
}
