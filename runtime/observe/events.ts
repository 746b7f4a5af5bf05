/**
 * What the runtime tells an observer, and the one interface the core calls. The group driver,
 * the replica and the client each hold an {@link ObserveSink} and report what happens to them
 * in a line each; everything else (metrics, logs, traces, spans) lives in this folder and is
 * built on these events. Without an observer the sink still publishes on
 * `node:diagnostics_channel` (when someone subscribes), so APM tools can listen without troupe
 * knowing them.
 */
import diagnostics from 'node:diagnostics_channel';
import type { AppEvent } from '../group/core.js';
import type { Group } from '../group/group.js';
import type { GroupHandle } from '../group/types.js';
import type { ReplyEntry, ReplyMode } from '../rpc/api.js';
import type { TroupeClient } from '../rpc/client.js';
import type { RequestMsg } from '../rpc/messages.js';
import type { Replica } from '../rpc/replica.js';
import type { Result } from '../rpc/result.js';
import type { QoS } from '../stack/types.js';

/** Where a request has got to at one member (the steps of a per-request trace). */
export type RequestStep =
  /** A client's `call` packet reached this member (its contact). */
  | 'received'
  /** The contact cast the request into the group's order. */
  | 'cast'
  /** The request was delivered in the total order here (view and position known). */
  | 'ordered'
  /** This member started running the method. */
  | 'applying'
  /** This member recorded the request's outcome (`committed` or `interrupted`). */
  | 'outcome'
  /** This member sent the client a reply. */
  | 'replied';

/** One step of one request at this member. */
export interface RequestEvent {
  type: 'request';
  step: RequestStep;
  id: string;
  /** `ordered`: the view it was delivered in; `outcome`: the view it was ordered in. */
  viewId?: number;
  /** `ordered`: its position in that view's total order. */
  gseq?: number;
  /** `received`/`replied`: the client's address; `ordered`: the contact member. */
  peer?: string;
  /** `applying`: the method. */
  method?: string;
  /** `outcome`: what was recorded, and whether the method returned (rather than threw). */
  status?: 'committed' | 'interrupted';
  ok?: boolean;
}

/**
 * How the runtime reports a request step to its sink: each step's fields by name, passed on in
 * {@link RequestEvent}'s order ({@link CoreSink.step}).
 */
export const requestStep = {
  received: (sink: CoreSink, id: string, peer: string) =>
    sink.step('received', id, undefined, undefined, peer),
  cast: (sink: CoreSink, id: string) => sink.step('cast', id),
  ordered: (sink: CoreSink, id: string, viewId: number, gseq: number | undefined, contact: string) =>
    sink.step('ordered', id, viewId, gseq, contact),
  applying: (sink: CoreSink, id: string, method: string) =>
    sink.step('applying', id, undefined, undefined, undefined, method),
  outcome: (sink: CoreSink, id: string, viewId: number, status: 'committed' | 'interrupted', ok?: boolean) =>
    sink.step('outcome', id, viewId, undefined, undefined, undefined, status, ok),
  replied: (sink: CoreSink, id: string, peer: string) => sink.step('replied', id, undefined, undefined, peer),
};

/**
 * A request step as arguments, in {@link RequestEvent}'s order. An observer holding one under
 * {@link TAKES_STEPS} (the {@link Observer}) gets request steps so while no diagnostics channel
 * listens: no event object per step, about twelve per call over a group of three.
 */
export type StepTaker = (
  step: RequestStep,
  id: string,
  viewId: number | undefined,
  gseq: number | undefined,
  peer: string | undefined,
  method: string | undefined,
  status: 'committed' | 'interrupted' | undefined,
  ok: boolean | undefined,
) => void;

/** Where an observer keeps its {@link StepTaker} (a symbol: not part of {@link ObserveSink}). */
export const TAKES_STEPS: unique symbol = Symbol('troupe.takesSteps');

/**
 * A request event with every field of {@link RequestEvent} present and in one order. The sink,
 * the diagnostics channel and the observer read one of these per step of every request at every
 * member: one object shape keeps those reads monomorphic (with the optional fields left out, each
 * step was a shape of its own).
 */
function full(
  step: RequestStep,
  id: string,
  viewId?: number,
  gseq?: number,
  peer?: string,
  method?: string,
  status?: 'committed' | 'interrupted',
  ok?: boolean,
): RequestEvent {
  return { type: 'request', step, id, viewId, gseq, peer, method, status, ok };
}

/** Everything the runtime reports. */
export type TroupeEvent =
  /** A group member was created, before it starts joining. */
  | { type: 'member'; group: Group }
  /** The application handed `payload` to `Group.cast`. */
  | { type: 'cast'; payload: Uint8Array; qos: QoS }
  /** An event of the member core reached the group driver (views, deliveries, suspicions...). */
  | { type: 'app'; group: Group; event: AppEvent }
  /** A replica attached to its group (a `Group`, or another driver's handle, e.g. the simulator's). */
  | { type: 'replica'; replica: Replica; group: GroupHandle }
  | RequestEvent
  /**
   * A replica reached an observability message (service {@link OBSERVE_SERVICE}) in its apply
   * order: `digest()` is its replicated state there, `last` the last client request it applied.
   */
  | {
      type: 'system';
      msg: RequestMsg;
      view: { id: number; members: string[] };
      digest: () => string;
      last: string | undefined;
      /**
       * The member whose state this replica's is a still unconfirmed copy of (it was restored
       * from a snapshot and no check has confirmed it since), or undefined.
       */
      origin?: string;
      /** Tells the replica that the check of this checkpoint confirmed its state (it clears `origin`). */
      confirm?: () => void;
    }
  /** A client was created. */
  | { type: 'client'; client: TroupeClient }
  /** A client call started; `settled` is the promise the caller gets. */
  | {
      type: 'call';
      id: string;
      service: string;
      method: string;
      mode: ReplyMode;
      settled: Promise<unknown>;
    }
  /** The members' answers to an ordered `all`/`majority` call differ (`Replies.divergent`). */
  | {
      type: 'divergent-replies';
      id: string;
      service: string;
      method: string;
      entries: readonly ReplyEntry<unknown>[];
    }
  /** A client's contact failed; `requests` were pending at it (rejected, or resent if `reissue`). */
  | { type: 'failover'; clientId: string; contact: string; requests: string[]; reissue: boolean };

/**
 * The interface the runtime calls: `JoinOptions.observe`, `ReplicaOptions.observe`,
 * `ConnectOptions.observe`. {@link Observer} is the full implementation; any object with an
 * `event` method will do.
 */
export interface ObserveSink {
  /** Called synchronously where the event happens; must not throw and should be cheap. */
  event(e: TroupeEvent): void;
  /**
   * Answers an observability query that reached a replica (service {@link OBSERVE_SERVICE}):
   * `trace`, `status`. Absent: the replica answers `OBSERVE_DISABLED`. `keyless`: the asker
   * proved only an address (a group without a key: anyone may ask), so the answer names no
   * client (see `Observer.answer`).
   */
  answer?(method: string, args: Uint8Array, keyless?: boolean): Result;
}

/** The service name of observability queries sent to replicas (`troupe trace`, `troupe status`). */
export const OBSERVE_SERVICE = '$troupe';

/** The `node:diagnostics_channel` channels troupe publishes on (docs/observability.md). */
export const CHANNELS = {
  callStart: 'troupe:client:call:start',
  callEnd: 'troupe:client:call:end',
  failover: 'troupe:client:failover',
  request: 'troupe:replica:request',
  view: 'troupe:group:view',
  suspect: 'troupe:group:suspect',
  partitioned: 'troupe:group:partitioned',
  divergence: 'troupe:replica:divergence',
} as const;

const ch = {
  callStart: diagnostics.channel(CHANNELS.callStart),
  callEnd: diagnostics.channel(CHANNELS.callEnd),
  failover: diagnostics.channel(CHANNELS.failover),
  request: diagnostics.channel(CHANNELS.request),
  view: diagnostics.channel(CHANNELS.view),
  suspect: diagnostics.channel(CHANNELS.suspect),
  partitioned: diagnostics.channel(CHANNELS.partitioned),
};

/** The divergence channel, published by {@link Observer} (replicas compare digests through it). */
export const divergenceChannel = diagnostics.channel(CHANNELS.divergence);

/** The sink a core object holds: an {@link ObserveSink} that also says who is listening. */
export interface CoreSink extends ObserveSink {
  /**
   * Whether an event of `type` would reach anyone now (an observer, or a diagnostics channel's
   * subscriber). The per-call and per-message events are built only when it does: without an
   * observer they were a few hundred bytes of garbage per call at every member.
   */
  wants(type: TroupeEvent['type']): boolean;
  /**
   * Reports a request step (use {@link requestStep}): as a {@link RequestEvent} to the channel
   * and the observer, or as arguments to an observer's {@link StepTaker} when no channel listens;
   * nothing when nobody would get it.
   */
  step(
    step: RequestStep,
    id: string,
    viewId?: number,
    gseq?: number,
    peer?: string,
    method?: string,
    status?: 'committed' | 'interrupted',
    ok?: boolean,
  ): void;
}

/**
 * The sink a core object holds: publishes on the diagnostics channels that have subscribers,
 * then hands the event to `observer`, if any. `member` names the member for channel messages
 * that need it (the replica knows it only once attached).
 */
export function sinkFor(observer: ObserveSink | undefined, member?: () => string | undefined): CoreSink {
  const answer = observer?.answer?.bind(observer);
  const takes = (observer as { [TAKES_STEPS]?: StepTaker } | undefined)?.[TAKES_STEPS];
  const sink: CoreSink = {
    wants: (type) => observer !== undefined || channelsListen(type),
    step(step, id, viewId, gseq, peer, method, status, ok) {
      if (takes !== undefined && !ch.request.hasSubscribers) {
        try {
          takes(step, id, viewId, gseq, peer, method, status, ok);
        } catch {
          // As in `event`: an observer's bug is not the runtime's.
        }
        return;
      }
      if (observer !== undefined || ch.request.hasSubscribers)
        sink.event(full(step, id, viewId, gseq, peer, method, status, ok));
    },
    event(e) {
      try {
        // Request steps first and apart: several per call at every member, and the only events
        // whose channel is checked here rather than in `publish` (one call and switch less).
        if (e.type === 'request') {
          if (ch.request.hasSubscribers) publishRequest(e, member);
        } else publish(e);
        observer?.event(e);
      } catch {
        // An observer's bug must not become the runtime's: the event is lost, the member runs on.
      }
    },
    answer: (method, args, keyless) =>
      answer?.(method, args, keyless) ?? {
        ok: false,
        error: { name: 'TroupeError', code: 'OBSERVE_DISABLED', message: 'this member has no observer' },
      },
  };
  return sink;
}

/** Whether a diagnostics channel fed by events of `type` has a subscriber ({@link publish}). */
function channelsListen(type: TroupeEvent['type']): boolean {
  switch (type) {
    case 'request':
      return ch.request.hasSubscribers;
    case 'call':
      return ch.callStart.hasSubscribers || ch.callEnd.hasSubscribers;
    case 'failover':
      return ch.failover.hasSubscribers;
    case 'app':
      return ch.view.hasSubscribers || ch.suspect.hasSubscribers || ch.partitioned.hasSubscribers;
    default:
      return false;
  }
}

function publishRequest(e: RequestEvent, member: (() => string | undefined) | undefined): void {
  const { type: _, id, ...rest } = e;
  // The fields a step has (events carry every field, most undefined: requestStep).
  const fields = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  ch.request.publish({ member: member?.(), requestId: id, ...fields });
}

/** Publishes `e` on its channels that have subscribers (request steps: {@link publishRequest}). */
function publish(e: TroupeEvent): void {
  switch (e.type) {
    case 'call': {
      // Nothing built or timed for nobody: this runs for every call a client makes.
      if (!ch.callStart.hasSubscribers && !ch.callEnd.hasSubscribers) return;
      const start = performance.now();
      const base = { requestId: e.id, service: e.service, method: e.method, mode: e.mode };
      if (ch.callStart.hasSubscribers) ch.callStart.publish(base);
      if (ch.callEnd.hasSubscribers)
        e.settled.then(
          () => ch.callEnd.publish({ ...base, durationMs: performance.now() - start }),
          (error: unknown) => ch.callEnd.publish({ ...base, durationMs: performance.now() - start, error }),
        );
      return;
    }
    case 'failover':
      if (ch.failover.hasSubscribers) ch.failover.publish(withoutType(e));
      return;
    case 'app': {
      const ev = e.event;
      // Every delivered message is an app event: nothing is built unless someone listens.
      if (!ch.view.hasSubscribers && !ch.suspect.hasSubscribers && !ch.partitioned.hasSubscribers) return;
      const base = { group: e.group.groupName, member: e.group.self };
      if (ev.type === 'view' && ch.view.hasSubscribers)
        ch.view.publish({
          ...base,
          viewId: ev.change.view.id,
          previousId: ev.change.previousId,
          members: [...ev.change.view.members],
          joined: ev.change.joined,
          left: ev.change.left,
          failed: ev.change.failed,
        });
      else if (ev.type === 'suspect' && ch.suspect.hasSubscribers)
        ch.suspect.publish({ ...base, suspect: ev.suspicion.member, silentMs: ev.suspicion.silentMs });
      else if (ev.type === 'partitioned' && ch.partitioned.hasSubscribers)
        ch.partitioned.publish({ ...base, viewId: ev.viewId, reason: ev.reason });
      return;
    }
    default:
      return;
  }
}

function withoutType<E extends { type: string }>(e: E): Omit<E, 'type'> {
  const { type: _, ...rest } = e;
  return rest;
}
