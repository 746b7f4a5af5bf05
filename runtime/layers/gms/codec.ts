import { headerString, headerTuple, headerUint } from '../../stack/header.js';
import type { MemberId } from '../../stack/member.js';
import type { LastView } from '../../stack/types.js';
import { DecodeError } from '../../wire/errors.js';
import { MAX_VIEW_MEMBERS } from './options.js';

/**
 * Header kinds of the membership layer. `epoch` names the flush attempt that installed a view,
 * so two coordinators racing to install the same view id can never have their traffic mixed.
 * Each kind has one codec below; the tuples in these comments are what travels.
 */
export const GmsKind = {
  /** [0, viewId, epoch, vseq] a reliable cast of the view (vseq: per sender, from 0 in each view). */
  Data: 0,
  /** [1, viewId, epoch, highestKey, stuck] liveness, unreliable cast. `highestKey`: the highest
   * ballot the sender took or started (at least 4096 × the highest attempt it heard of), so a
   * coordinator outbids every attempt its members are blocked in; `stuck`: 1 when the sender is blocked in a flush nobody drives any more. */
  Heartbeat: 1,
  /** [2, newViewId, attempt, members[], addresses[]] coordinator → each surviving member: stop and report. */
  Prepare: 2,
  /** [3, newViewId, attempt, [[sender, count]...], nakNext] participant → coordinator: how many of
   * each sender's messages of the view it holds contiguously (its own: how many it sent). */
  Digest: 3,
  /** [4, newViewId, attempt, [[sender, count, holder]...], install] coordinator → participants:
   * the old view ends after `count` messages of each sender; `holder` has them all; `install` is
   * the Install this attempt will send (its own, or the one of a promise it adopted). */
  Sync: 4,
  /** [5, viewId, epoch, sender, from, to] ask a holder for messages of a sender of the old view. */
  Fetch: 5,
  /** [6, viewId, epoch, sender, vseq] a stored message resent during a flush (original headers above). */
  Forward: 6,
  /** [7, newViewId, attempt] participant → coordinator: I hold and delivered everything up to the cut. */
  FlushOk: 7,
  /** [8, newViewId, attempt, members[], addresses[], joined[], left[], failed[], [[member, nakNext]...], epoch] */
  Install: 8,
  /** [9, vote, nonce, counts] discovery: an endpoint asks to join (sent to the seeds); `vote` is
   * the founder it backs if no group answers ('' for none); `nonce` the latest one a coordinator
   * sent it in a `Here` ('' for none): only a Join echoing a valid nonce is recorded; `counts` 0
   * when its vote does not count towards a founding quorum (a rejoining member that cannot
   * account for a majority of its last view; missing: 1); then `challenge`, `echo` and `origin`
   * (see JoinHeader). */
  Join: 9,
  /** [10, viewId, coordinator, coordinatorAddress, nonce] discovery reply from a member; `nonce`
   * ('' unless the sender coordinates) proves a joiner receives at the address it claims. */
  Here: 10,
  /** [11, viewId] member → coordinator: remove me. */
  Leave: 11,
  /** [12, viewId, member, heldMs] member → coordinator: I suspect this member, and have for
   * heldMs without a break. Renewed every suspectMs / 2 while it holds. */
  Suspect: 12,
  /** [13, viewId, epoch] application point-to-point message. */
  P2P: 13,
  /** [14, viewId, epoch] unreliable cast. */
  Unreliable: 14,
  /** [15, newViewId, attempt] coordinator → its participants: I gave up this attempt (a stronger
   * coordinator leads); your FlushOk to it no longer binds you. */
  Abandon: 15,
  /** [16, epoch] founder → the joiners that voted for it: will you found the group with me? */
  Found: 16,
  /** [17, epoch, last?] voter → founder: yes; I back no one else until you start the group or I
   * give up. `last`: [members[], addresses[], self], the view this process was last in, if any
   * (its vote counts only if the co-founders account for a majority of it). */
  Confirm: 17,
  /** [18, viewId, epoch, coordinator, coordinatorAddress] discovery: a coordinator's beacon to
   * the seeds, and a member's answer to a beacon of another lineage. Without persistence a
   * restarted member can found a second group at the same seeds; the beacon lets the two meet
   * and the weaker one (see `yieldsTo`) rejoin the stronger. Joiners take it as a `Here`. */
  Lineage: 18,
  /** [19, viewId, epoch, nonce] a member that stopped for long → each other member of its view:
   * are you in this view now? (see FailureDetector.holding) */
  Ping: 19,
  /** [20, viewId, epoch, nonce] the answer, only from a member in that view and epoch: it echoes
   * the nonce, so a Pong drained from before the stop does not count. */
  Pong: 20,
} as const;

/**
 * One gms message kind: `encode` builds the header tuple that travels, `decode` checks a received
 * tuple (already known to be of this kind) and throws {@link DecodeError} (`DECODE_BAD_SHAPE`) if
 * it is malformed. Handlers decode before they change any state, and only where they read it.
 *
 * @example
 * ```ts
 * const h = flushOkHeader.encode({ newViewId: 4, attempt: 1 }); // [7, 4, 1]
 * flushOkHeader.decode(h).attempt; // 1
 * ```
 */
export interface HeaderCodec<Out, In = Out> {
  encode(m: In): unknown[];
  decode(h: unknown[]): Out;
}

/** What view-tagged traffic (data, heartbeats, point-to-point, unreliable) carries first. */
export interface ViewTag {
  viewId: number;
  epoch: number;
}
export interface DataHeader extends ViewTag {
  vseq: number;
}
export interface HeartbeatHeader extends ViewTag {
  highestKey: number;
  /** The sender is blocked in a flush nobody drives any more. */
  stuck: boolean;
  /** The sender's report nonce for this view: a Suspect report to it echoes it (see GmsShared.reportNonce). */
  nonce?: string;
}
/** Names one flush attempt: Prepare's reply chain, FlushOk and Abandon. */
export interface AttemptHeader {
  newViewId: number;
  attempt: number;
}
export interface PrepareHeader extends AttemptHeader {
  members: MemberId[];
  addresses: string[];
}
export interface DigestHeader extends AttemptHeader {
  /** Per sender of the view, how many of its messages are held contiguously from vseq 0. */
  held: (readonly [MemberId, number])[];
  /** The nak seq the sender's next cast will carry. */
  nakNext: number;
  /** The attempt this participant last answered FlushOk to without being released (no Abandon,
   * no Install), and that attempt's cut as counts per sender: its coordinator may install it, so
   * the cut of any attempt this participant joins after it must be exactly that one. */
  promised?: {
    coord: MemberId;
    attempt: number;
    cut: (readonly [MemberId, number])[];
    /** The promised attempt's key (`attempt × 4096 + 4095 − rank` of its coordinator): a ballot. */
    key: number;
    /** The Install that attempt sends (from its Sync): an attempt adopting the promise sends
     * exactly this one, so at most one view follows the old one, whoever completes it. */
    install: InstallHeader;
  };
}
export interface SyncEnd {
  sender: MemberId;
  /** The old view ends after this many messages of `sender`. */
  count: number;
  holder: MemberId;
}
export interface SyncHeader extends AttemptHeader {
  ends: SyncEnd[];
  /** The Install this attempt sends once every FlushOk is in: its own view, or the view of the
   * promise it adopted (then `install.attempt` and `install.epoch` are that promise's). */
  install: InstallHeader;
}
export interface FetchHeader extends ViewTag {
  sender: MemberId;
  from: number;
  to: number;
}
export interface ForwardHeader extends ViewTag {
  sender: MemberId;
  vseq: number;
}
export interface InstallHeader extends AttemptHeader {
  members: MemberId[];
  addresses: string[];
  joined: MemberId[];
  left: MemberId[];
  failed: MemberId[];
  /** Per member of the old view, the nak seq of its next cast, and per joiner whose Join gave
   * it, the origin of its cast stream: every member starts a joiner's cast stream there, and a
   * joiner every member's (`expect`), instead of asking an address nothing pins yet. */
  nakNext: (readonly [MemberId, number])[];
  epoch: number;
}
export interface HereHeader {
  viewId: number;
  coordinator: MemberId;
  address: string;
  /** The coordinator's nonce for the joiner at the address this Here is sent to ('' from others). */
  nonce: string;
  /**
   * The challenge of the Join this Here answers ('' for none: a member of an earlier release, or
   * no challenge in the Join): it shows the joiner that the address it heard of a group at
   * receives its Joins (see GroupWord.credit).
   */
  echo: string;
}
export interface JoinHeader {
  vote: string;
  /** The nonce of the last coordinator's Here this joiner got ('' for none). */
  nonce: string;
  /** Whether this joiner's vote counts towards a founding quorum (see FoundingQuorum.counts). */
  counts: boolean;
  /**
   * The joiner's challenge for the address this Join is sent to, echoed by the Here that answers
   * and by the Joins of a joiner there ('' from an earlier release).
   */
  challenge: string;
  /**
   * Challenges the joiners at the address this Join is sent to put in their Joins to us (at most
   * {@link JOIN_ECHOES}, in the order Joiner.joinTo gives): shows them we receive at the address
   * their record of us names (Joiner.onJoin). Empty in the beacon and from an earlier release.
   */
  echo: readonly string[];
  /**
   * Where the joiner's reliable cast stream begins (nak's `castNext`), absent from an earlier
   * release: the coordinator takes it from a Join that proves the joiner's address (echoes its
   * nonce) and puts it in the Install, so no member asks for it by a Sync (FINDINGS 215).
   */
  origin?: number;
}
export interface SuspectHeader {
  viewId: number;
  member: MemberId;
  heldMs: number;
  /** The coordinator's report nonce, as its heartbeats of this view gave it to the reporter. */
  nonce?: string;
}

const L = 'gms';

/** Challenges a Join echoes at most (a joiner's own trusted one goes first: see Joiner.joinTo). */
export const JOIN_ECHOES = 4;
/** A join challenge's length at most (8 hex digits are sent). */
const CHALLENGE_MAX = 16;

const strings = (v: unknown, what: string, maxLength?: number): string[] =>
  headerTuple(v, L, 0).map((m) => headerString(m, L, what, maxLength));

/** The view tag alone: heartbeats, point-to-point and unreliable casts are judged on it first. */
export const viewTagHeader = {
  encode: (kind: number, m: ViewTag): unknown[] => [kind, m.viewId, m.epoch],
  decode(h: unknown[]): ViewTag {
    headerTuple(h, L, 3);
    return { viewId: headerUint(h[1], L, 'viewId'), epoch: headerUint(h[2], L, 'epoch') };
  },
  /** The view tag of view-tagged traffic, unchecked (liveness is noted before decoding): a
   * non-number view id reads as undefined, the epoch as it came. */
  peek(kind: number, h: unknown[]): { viewId: number | undefined; epoch: unknown } | undefined {
    const tagged =
      kind === GmsKind.Data ||
      kind === GmsKind.Heartbeat ||
      kind === GmsKind.P2P ||
      kind === GmsKind.Unreliable ||
      kind === GmsKind.Ping ||
      kind === GmsKind.Pong;
    if (!tagged) return undefined;
    return { viewId: typeof h[1] === 'number' ? h[1] : undefined, epoch: h[2] };
  },
};

export const dataHeader: HeaderCodec<DataHeader> = {
  encode: (m) => [GmsKind.Data, m.viewId, m.epoch, m.vseq],
  decode(h) {
    headerTuple(h, L, 4);
    return {
      viewId: headerUint(h[1], L, 'viewId'),
      epoch: headerUint(h[2], L, 'epoch'),
      vseq: headerUint(h[3], L, 'vseq'),
    };
  },
};

export const heartbeatHeader: HeaderCodec<HeartbeatHeader> = {
  encode: (m) => [
    GmsKind.Heartbeat,
    m.viewId,
    m.epoch,
    m.highestKey,
    m.stuck ? 1 : 0,
    ...(m.nonce !== undefined ? [m.nonce] : []),
  ],
  decode(h) {
    const tag = viewTagHeader.decode(h);
    // The two flush fields came later: a heartbeat without them reports nothing.
    const highestKey = h.length > 3 ? headerUint(h[3], L, 'highestKey') : 0;
    const stuck = h.length > 4 ? headerUint(h[4], L, 'stuck') : 0;
    // Fields named, not `...tag`: a heartbeat is decoded per member per 50 ms, and the spread's
    // generic copy was a twentieth of the simulator's time.
    const hb: HeartbeatHeader = { viewId: tag.viewId, epoch: tag.epoch, highestKey, stuck: stuck !== 0 };
    if (h.length > 5) hb.nonce = headerString(h[5], L, 'nonce');
    return hb;
  },
};

/** Prepare's addresses are checked as a list only: participants never read them (the Install
 * carries the new view's addresses), so decoding leaves them out. */
export const prepareHeader: HeaderCodec<Omit<PrepareHeader, 'addresses'>, PrepareHeader> = {
  encode: (m) => [GmsKind.Prepare, m.newViewId, m.attempt, m.members, m.addresses],
  decode(h) {
    headerTuple(h, L, 5);
    const newViewId = headerUint(h[1], L, 'viewId');
    const attempt = headerUint(h[2], L, 'attempt');
    const members = strings(h[3], 'member');
    headerTuple(h[4], L, 0);
    return { newViewId, attempt, members };
  },
};

/** `[[sender, count], ...]`: a Digest's held counts, or a promised cut. */
function counts(v: unknown): (readonly [MemberId, number])[] {
  return headerTuple(v, L, 0).map((e) => {
    const t = headerTuple(e, L, 2);
    return [headerString(t[0], L, 'sender'), headerUint(t[1], L, 'vseq')] as const;
  });
}

export const digestHeader: HeaderCodec<DigestHeader> = {
  encode: (m) => {
    const base = [GmsKind.Digest, m.newViewId, m.attempt, m.held, m.nakNext];
    const pr = m.promised
      ? [
          m.promised.coord,
          m.promised.attempt,
          m.promised.cut,
          m.promised.key,
          installHeader.encode(m.promised.install),
        ]
      : 0;
    return m.promised ? [...base, pr] : base;
  },
  decode(h) {
    headerTuple(h, L, 5);
    const newViewId = headerUint(h[1], L, 'viewId');
    const attempt = headerUint(h[2], L, 'attempt');
    const held = counts(h[3]);
    const nakNext = headerUint(h[4], L, 'nakNext');
    if (h[5] === undefined || h[5] === 0) return { newViewId, attempt, held, nakNext };
    const p = headerTuple(h[5], L, 5);
    const promised = {
      coord: headerString(p[0], L, 'promised coordinator'),
      attempt: headerUint(p[1], L, 'promised attempt'),
      cut: counts(p[2]),
      key: headerUint(p[3], L, 'promised key'),
      install: installHeader.decode(headerTuple(p[4], L, 10)),
    };
    return { newViewId, attempt, held, nakNext, promised };
  },
};

export const syncHeader: HeaderCodec<SyncHeader> = {
  encode: (m) => [
    GmsKind.Sync,
    m.newViewId,
    m.attempt,
    m.ends.map((e) => [e.sender, e.count, e.holder]),
    installHeader.encode(m.install),
  ],
  decode(h) {
    headerTuple(h, L, 5);
    const newViewId = headerUint(h[1], L, 'viewId');
    const attempt = headerUint(h[2], L, 'attempt');
    const entries = headerTuple(h[3], L, 0);
    const install = installHeader.decode(headerTuple(h[4], L, 10));
    if (install.newViewId !== newViewId)
      throw new DecodeError('DECODE_BAD_SHAPE', 'gms: a Sync installs another view than its own');
    return { newViewId, attempt, ends: entries.map(syncEnd), install };
  },
};

function syncEnd(e: unknown): SyncEnd {
  const t = headerTuple(e, L, 3);
  const sender = headerString(t[0], L, 'sender');
  const count = headerUint(t[1], L, 'cut');
  return { sender, count, holder: headerString(t[2], L, 'holder') };
}

export const fetchHeader: HeaderCodec<FetchHeader> = {
  encode: (m) => [GmsKind.Fetch, m.viewId, m.epoch, m.sender, m.from, m.to],
  decode(h) {
    headerTuple(h, L, 6);
    return {
      viewId: headerUint(h[1], L, 'viewId'),
      epoch: headerUint(h[2], L, 'epoch'),
      sender: headerString(h[3], L, 'sender'),
      from: headerUint(h[4], L, 'from'),
      to: headerUint(h[5], L, 'to'),
    };
  },
};

export const forwardHeader: HeaderCodec<ForwardHeader> = {
  encode: (m) => [GmsKind.Forward, m.viewId, m.epoch, m.sender, m.vseq],
  decode(h) {
    headerTuple(h, L, 5);
    return {
      viewId: headerUint(h[1], L, 'viewId'),
      epoch: headerUint(h[2], L, 'epoch'),
      sender: headerString(h[3], L, 'sender'),
      vseq: headerUint(h[4], L, 'vseq'),
    };
  },
};

function attemptCodec(kind: number): HeaderCodec<AttemptHeader> {
  return {
    encode: (m) => [kind, m.newViewId, m.attempt],
    decode(h) {
      headerTuple(h, L, 3);
      return { newViewId: headerUint(h[1], L, 'viewId'), attempt: headerUint(h[2], L, 'attempt') };
    },
  };
}

export const flushOkHeader = attemptCodec(GmsKind.FlushOk);
export const abandonHeader = attemptCodec(GmsKind.Abandon);

export const installHeader: HeaderCodec<InstallHeader> = {
  encode: (m) => [
    GmsKind.Install,
    m.newViewId,
    m.attempt,
    m.members,
    m.addresses,
    m.joined,
    m.left,
    m.failed,
    m.nakNext,
    m.epoch,
  ],
  decode(h) {
    headerTuple(h, L, 10);
    const newViewId = headerUint(h[1], L, 'viewId');
    const attempt = headerUint(h[2], L, 'attempt');
    const epoch = headerUint(h[9], L, 'epoch');
    const members = strings(h[3], 'member');
    const addresses = strings(h[4], 'address');
    const joined = strings(h[5], 'member');
    const left = strings(h[6], 'member');
    const failed = strings(h[7], 'member');
    const nakNext = headerTuple(h[8], L, 0).map((e) => {
      const t = headerTuple(e, L, 2);
      return [headerString(t[0], L, 'member'), headerUint(t[1], L, 'seq')] as const;
    });
    if (members.length !== addresses.length || members.length === 0)
      throw new DecodeError('DECODE_BAD_SHAPE', 'gms: install members and addresses differ');
    return { newViewId, attempt, members, addresses, joined, left, failed, nakNext, epoch };
  },
};

export const joinHeader: HeaderCodec<JoinHeader> = {
  encode: (m) => [
    GmsKind.Join,
    m.vote,
    m.nonce,
    m.counts ? 1 : 0,
    m.challenge,
    m.echo,
    ...(m.origin !== undefined ? [m.origin] : []),
  ],
  // An early Join carried no vote, nor a nonce (so it is never recorded by a coordinator), nor
  // whether its vote counts (it does), nor a challenge, nor echoes, nor its origin.
  decode: (h) => ({
    vote: h.length > 1 ? headerString(h[1], L, 'vote') : '',
    nonce: h.length > 2 ? headerString(h[2], L, 'nonce') : '',
    counts: h.length > 3 ? headerUint(h[3], L, 'counts') !== 0 : true,
    challenge: h.length > 4 ? headerString(h[4], L, 'challenge', CHALLENGE_MAX) : '',
    echo: h.length > 5 ? strings(h[5], 'echo', CHALLENGE_MAX).slice(0, JOIN_ECHOES) : [],
    ...(h.length > 6 ? { origin: headerUint(h[6], L, 'origin') } : {}),
  }),
};

export const hereHeader: HeaderCodec<HereHeader> = {
  encode: (m) => [GmsKind.Here, m.viewId, m.coordinator, m.address, m.nonce, m.echo],
  decode(h) {
    headerTuple(h, L, 4);
    return {
      viewId: headerUint(h[1], L, 'viewId'),
      coordinator: headerString(h[2], L, 'coordinator'),
      address: headerString(h[3], L, 'address'),
      nonce: h.length > 4 ? headerString(h[4], L, 'nonce') : '',
      echo: h.length > 5 ? headerString(h[5], L, 'echo') : '',
    };
  },
};

export const leaveHeader: HeaderCodec<{ viewId: number }> = {
  encode: (m) => [GmsKind.Leave, m.viewId],
  decode(h) {
    headerTuple(h, L, 2);
    return { viewId: headerUint(h[1], L, 'viewId') };
  },
};

export const suspectHeader: HeaderCodec<SuspectHeader> = {
  encode: (m) => [GmsKind.Suspect, m.viewId, m.member, m.heldMs, ...(m.nonce !== undefined ? [m.nonce] : [])],
  decode(h) {
    headerTuple(h, L, 3);
    const viewId = headerUint(h[1], L, 'viewId');
    const member = headerString(h[2], L, 'member');
    // How long the reporter has suspected the member without a break (a later field: absent means 0).
    const heldMs = h.length > 3 ? headerUint(h[3], L, 'heldMs') : 0;
    const r: SuspectHeader = { viewId, member, heldMs };
    if (h.length > 4) r.nonce = headerString(h[4], L, 'nonce');
    return r;
  },
};

export interface PingHeader extends ViewTag {
  nonce: number;
  /** Pong only: the answering member is blocked in an orphaned flush (an answer to the
   * coordinator's stuck probe; FINDINGS 232). Absent: not stuck (and from an earlier release). */
  stuck?: boolean;
}

function pingCodec(kind: number): HeaderCodec<PingHeader> {
  return {
    encode: (m) =>
      m.stuck === undefined
        ? [kind, m.viewId, m.epoch, m.nonce]
        : [kind, m.viewId, m.epoch, m.nonce, m.stuck ? 1 : 0],
    decode(h) {
      headerTuple(h, L, 4);
      const r: PingHeader = {
        viewId: headerUint(h[1], L, 'viewId'),
        epoch: headerUint(h[2], L, 'epoch'),
        nonce: headerUint(h[3], L, 'nonce'),
      };
      if (h.length > 4) r.stuck = headerUint(h[4], L, 'stuck') !== 0;
      return r;
    },
  };
}

export const pingHeader = pingCodec(GmsKind.Ping);
export const pongHeader = pingCodec(GmsKind.Pong);

/**
 * A founder's Found: its epoch and the view it proposes (itself and every voter it asks, with
 * their addresses), which a voter that confirms must remember as a view it may be in (FINDINGS
 * 59), and the proposal's number (`pid`: a founder's proposals rise), which the Confirm echoes,
 * so a Confirm counts only for the proposal it answers (FINDINGS 64). A Found of an earlier
 * release has no proposal, one of the release before this one no number.
 */
export interface FoundHeader {
  epoch: number;
  proposal?: { members: MemberId[]; addresses: string[] };
  pid?: number;
}

export const foundHeader: HeaderCodec<FoundHeader> = {
  encode: (m) =>
    m.proposal
      ? [
          GmsKind.Found,
          m.epoch,
          m.proposal.members,
          m.proposal.addresses,
          ...(m.pid !== undefined ? [m.pid] : []),
        ]
      : [GmsKind.Found, m.epoch],
  decode(h) {
    headerTuple(h, L, 2);
    const epoch = headerUint(h[1], L, 'epoch');
    if (h.length < 4) return { epoch };
    const pid = h.length >= 5 ? headerUint(h[4], L, 'proposal number') : undefined;
    const members = strings(h[2], 'member');
    const addresses = strings(h[3], 'address');
    if (addresses.length !== members.length || members.length === 0 || members.length > MAX_VIEW_MEMBERS)
      throw new DecodeError(
        'DECODE_BAD_SHAPE',
        `gms: a Found proposal needs one address per member, 1 to ${MAX_VIEW_MEMBERS}`,
      );
    return { epoch, proposal: { members, addresses }, ...(pid !== undefined ? { pid } : {}) };
  },
};

/** A voter's Confirm: its last view when it has one (see FoundingQuorum.counts): the founder
 * counts its vote only if the co-founders account for a majority of that view; and the number of
 * the proposal it answers (absent from a voter of an earlier release). */
export interface ConfirmHeader {
  epoch: number;
  last?: LastView;
  pid?: number;
}

export const confirmHeader: HeaderCodec<ConfirmHeader> = {
  encode: (m) => {
    const last = m.last ? [m.last.members, m.last.addresses, m.last.self] : null;
    if (m.pid !== undefined) return [GmsKind.Confirm, m.epoch, last, m.pid];
    return last ? [GmsKind.Confirm, m.epoch, last] : [GmsKind.Confirm, m.epoch];
  },
  decode(h) {
    headerTuple(h, L, 2);
    const epoch = headerUint(h[1], L, 'epoch');
    const pid = h.length >= 4 ? { pid: headerUint(h[3], L, 'proposal number') } : {};
    if (h.length < 3 || h[2] === null) return { epoch, ...pid };
    const t = headerTuple(h[2], L, 3);
    const members = strings(t[0], 'member');
    const addresses = strings(t[1], 'address');
    if (addresses.length !== members.length || members.length > MAX_VIEW_MEMBERS)
      throw new DecodeError(
        'DECODE_BAD_SHAPE',
        `gms: a Confirm last view needs one address per member, at most ${MAX_VIEW_MEMBERS}`,
      );
    return { epoch, last: { members, addresses, self: headerString(t[2], L, 'member') }, ...pid };
  },
};

export interface LineageHeader {
  viewId: number;
  epoch: number;
  coordinator: MemberId;
  address: string;
}

export const lineageHeader: HeaderCodec<LineageHeader> = {
  encode: (m) => [GmsKind.Lineage, m.viewId, m.epoch, m.coordinator, m.address],
  decode(h) {
    headerTuple(h, L, 5);
    return {
      viewId: headerUint(h[1], L, 'viewId'),
      epoch: headerUint(h[2], L, 'epoch'),
      coordinator: headerString(h[3], L, 'coordinator'),
      address: headerString(h[4], L, 'address'),
    };
  },
};
