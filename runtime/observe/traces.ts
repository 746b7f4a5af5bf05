/**
 * Per-request traces at one member: where each recent request went here, in a ring bounded by
 * request count (and each trace by step count), so a busy member keeps the last N requests.
 *
 * Recording allocates nothing: a request owns a slot of the ring, and each step kind a fixed cell
 * of typed-array columns (time, two numbers, a text, flags). `TraceStep` objects are built only
 * when a trace is read. Texts (a method, a client's address, an error code) are kept
 * once each in a small table and a cell holds their number: a column of strings held a pointer
 * per step into an old-generation array, each store a write barrier and each young string kept
 * alive by it copied by the scavenger (session 43). A request id is kept the same way: its client
 * prefix's number and its counter, so the ring holds no string per request at all. A column holds one kind's cells for every slot in a row (kind-major):
 * slots are taken in turn, so consecutive requests' cells of one kind share cache lines, and a
 * member that records three kinds of eight (one that is not the contact) touches three runs of
 * each column, not every slot's whole row (session 38: a slot-major ring of 1,024 requests cost
 * about twice what a ring of 64 did under the 64-outstanding load, in cache misses). A busy contact records six steps per call; an object per step, kept for
 * the ~1,000 requests the ring holds, lived just long enough to be promoted out of the young
 * generation and was most of what tracing cost (docs/observability.md, "Cost").
 */
import type { RequestStep } from './events.js';

/** One step of a request at one member. `at` is wall-clock milliseconds (fractional). */
export interface TraceStep {
  step: RequestStep | 'call' | 'settled';
  at: number;
  viewId?: number;
  gseq?: number;
  /** A client address (`received`, `replied`) or the contact member (`ordered`). */
  peer?: string;
  method?: string;
  status?: string;
  ok?: boolean;
  /** `outcome`: how long the method ran here; `settled`: the call's round trip. */
  ms?: number;
  /** `received`: how many copies of the call arrived (retransmissions). */
  count?: number;
  /** `settled`: the error code the caller got, if any. */
  error?: string;
}

/** What one member knows of one request. */
export interface RequestTrace {
  requestId: string;
  /** The member (or client id) that recorded it. */
  member: string;
  steps: TraceStep[];
}

/** Steps kept per request: a request's steps at one member are few; this bounds a flood of one id. */
export const MAX_STEPS = 32;

/** The step kinds, each a column cell of a slot. */
export const STEP = {
  call: 0,
  received: 1,
  cast: 2,
  ordered: 3,
  applying: 4,
  outcome: 5,
  replied: 6,
  settled: 7,
} as const satisfies Record<TraceStep['step'], number>;
export type StepKind = (typeof STEP)[keyof typeof STEP];
const KINDS = 8;
/** The kinds that start a request's trace at a member: never looked for by scanning. */
const STARTS = new Uint8Array(KINDS);
STARTS[STEP.call] = STARTS[STEP.received] = STARTS[STEP.ordered] = 1;
/** Slots the lookup scans (newest first) for an unindexed request its guess missed. */
const SCAN = 32;
/**
 * Distinct texts the ring numbers (methods, client addresses, error codes); past them a
 * text is kept in a map by cell ({@link TEXT_SPILLED}). Index 0 is no text.
 */
const MAX_TEXTS = 16_384;
/** Slots whose id string the ring keeps (the newest): see `TraceRing.recent`. */
const RECENT = 128;
/** Cells of the id index where an id may be (from its home on): one cache line of them. */
const PROBE = 4;
/** A cell whose text did not fit the table: kept in `spilled`. */
const TEXT_SPILLED = 0xffff;
const NAMES = Object.keys(STEP) as TraceStep['step'][];

/**
 * What each kind's generic cells mean: `a` and `b` numbers, `s` a string, flags `status`/`ok`.
 * One table serves recording and reading, so the two cannot disagree.
 */
const FIELDS: Record<
  TraceStep['step'],
  { a?: 'viewId' | 'count'; b?: 'gseq' | 'ms'; s?: 'peer' | 'method' | 'error' }
> = {
  call: { s: 'method' },
  received: { a: 'count', s: 'peer' },
  cast: {},
  ordered: { a: 'viewId', b: 'gseq', s: 'peer' },
  applying: { s: 'method' },
  outcome: { a: 'viewId', b: 'ms' },
  replied: { s: 'peer' },
  settled: { b: 'ms', s: 'error' },
};

/** Per kind, 1 where `FIELDS` gives it an `a` or a `b` cell: only those are written. */
const HAS_A = new Uint8Array(KINDS);
const HAS_B = new Uint8Array(KINDS);
for (const [name, f] of Object.entries(FIELDS)) {
  const k = STEP[name as TraceStep['step']];
  HAS_A[k] = f.a ? 1 : 0;
  HAS_B[k] = f.b ? 1 : 0;
}

const COMMITTED = 1;
const INTERRUPTED = 2;
const OK = 4;
const FAILED = 8;

/** The flags cell of an `outcome` step. */
export function outcomeFlags(
  status: 'committed' | 'interrupted' | undefined,
  ok: boolean | undefined,
): number {
  return (
    (status === 'committed' ? COMMITTED : status === 'interrupted' ? INTERRUPTED : 0) |
    (ok === true ? OK : ok === false ? FAILED : 0)
  );
}

export class TraceRing {
  /**
   * Slots by request id, for the requests a client sent here: a table of slots by the id's
   * numbers, each id in one of {@link PROBE} cells from its {@link home} (removal clears its cell,
   * nothing moves), with a `Map` of strings for odd ids and for ids whose cells are all taken
   * (another client's live ids on them). Only those: the
   * index's string hashing and probing (an entry, a lookup and a removal per request at every
   * member) were most of what tracing cost a loaded replica (4 % of its CPU in a profile of the
   * observe bench).
   */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Per slot, its cell in {@link table}, or -1 (not indexed, or an odd id). */
  private readonly cellOf: Int32Array;
  /** Indexed slots of odd ids and of ids that found no free cell, by id. */
  private readonly oddIndex = new Map<string, number>();
  /** The ids of slots in {@link oddIndex} that are not odd, by slot. */
  private readonly overflowIds = new Map<number, string>();
  /** Per slot, 1 when its request is not indexed; and how many such slots are live. */
  private readonly isUnindexed: Uint8Array;
  private unindexed = 0;
  private live = 0;
  /**
   * A slot's request id, as numbers: `clientId:counter` is its prefix (`clientId:`, a text's
   * number, 0 for a free slot), its counter and the counter's digits (leading zeros included).
   * No id string per request is kept: strings held for a thousand requests in an old-generation
   * array were a write barrier per step and a copy by the scavenger per request (session 43).
   * An odd id (no final digits, or a prefix the text table has no room for) has the prefix
   * {@link TEXT_SPILLED} and its string in {@link oddIds}.
   */
  private readonly prefixes: Uint16Array;
  private readonly counters: Float64Array;
  private readonly digits: Uint8Array;
  private readonly oddIds = new Map<number, string>();
  /**
   * The id strings of the `recentSlots` newest slots (undefined for older ones): the steps of a
   * request in flight find it by comparing strings, mostly by pointer, where reading the id as
   * numbers cost about three times as much in a loaded replica (session 43); a string is let go
   * that many requests later, mostly before a scavenge would copy it.
   */
  private readonly recent: (string | undefined)[];
  /** {@link parse}'s answer: the id's counter, digits and prefix number (-1: not in the table). */
  private pn = 0;
  private pd = 0;
  private pp = 0;
  /** The prefix of the last id parsed whose prefix was unknown (numbered if a slot is taken). */
  private newPrefix = '';
  /** The last prefix parsed and its number: most ids are one client's. */
  private lastPrefix = '';
  private lastPrefixNo = -1;
  /** Per slot, the member that recorded it (written only when it changes: mostly never). */
  private readonly members: string[];
  private readonly at: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  /** Per cell, its text's number in {@link texts} (0: none). */
  private readonly s: Uint16Array;
  private readonly flags: Uint8Array;
  /**
   * Per cell, the order the step arrived in its slot (1-based), meaningful only where
   * {@link has} marks the kind recorded: a slot taken again clears one byte, not eight cells.
   */
  private readonly order: Uint8Array;
  /** Per slot, a bit per step kind recorded there (bit `kind`). */
  private readonly has: Uint8Array;
  /** The texts cells name, by number, and their numbers (see {@link textId}). */
  private readonly texts: string[] = [''];
  private readonly textIds = new Map<string, number>();
  /** Per step kind, the last text numbered and its number: most steps repeat their kind's last. */
  private readonly lastText: (string | undefined)[] = new Array(KINDS).fill(undefined);
  private readonly lastTextId = new Uint16Array(KINDS);
  /** Texts of cells marked {@link TEXT_SPILLED}, by cell. */
  private readonly spilled = new Map<number, string>();
  /** Per slot, steps recorded so far (cells and repeats). */
  private readonly steps: Uint8Array;
  /** Steps of a kind already recorded in the slot (rare: a request ordered twice here), by slot. */
  private readonly repeats = new Map<number, { order: number; step: TraceStep }[]>();
  /** Slots marked slow: materialized before the ring reuses them (see {@link markSlow}). */
  private readonly slowSlots: number[] = [];
  private readonly slowKept: RequestTrace[] = [];
  private next = 0;
  /** {@link slot}'s last answer (forgotten when its slot is taken again). */
  private lastId: string | undefined;
  private lastSlot = 0;
  /** Per step kind, the slot its last lookup found (where {@link slot} guesses the next one). */
  private readonly cursor = new Int32Array(KINDS).fill(-1);

  /**
   * @param capacity requests kept; the oldest is forgotten first. 0 keeps none.
   * @param slowCapacity slow requests kept (by {@link markSlow}), even after the ring moves on.
   * @param recentSlots the newest slots whose id strings are kept (tests make it small).
   */
  constructor(
    readonly capacity: number,
    private readonly slowCapacity = 20,
    private readonly recentSlots = RECENT,
  ) {
    const n = Math.max(0, capacity);
    this.prefixes = new Uint16Array(n);
    this.recent = new Array(n).fill(undefined);
    this.counters = new Float64Array(n);
    this.digits = new Uint8Array(n);
    this.members = new Array(n).fill('');
    this.at = new Float64Array(n * KINDS).fill(Number.NaN);
    this.a = new Float64Array(n * KINDS);
    this.b = new Float64Array(n * KINDS);
    this.s = new Uint16Array(n * KINDS);
    this.flags = new Uint8Array(n * KINDS);
    this.order = new Uint8Array(n * KINDS);
    this.has = new Uint8Array(n);
    this.steps = new Uint8Array(n);
    this.isUnindexed = new Uint8Array(n);
    let cells = 2;
    while (cells < 2 * n) cells *= 2;
    this.table = new Int32Array(cells).fill(-1);
    this.mask = cells - 1;
    this.cellOf = new Int32Array(n).fill(-1);
  }

  /** Requests held. */
  get size(): number {
    return this.live;
  }

  /**
   * The slot of `requestId`, taken (forgetting the oldest request) unless `create` is false; -1
   * when not traced here or the ring keeps none. An event looks its request up once.
   *
   * `kind`, the step about to be recorded, lets the lookup guess (see {@link cursor}). `index`
   * false takes a new slot without entering it in the id index: for a step that starts a
   * request's trace at a member that did not receive it from a client (`ordered` at a member
   * that is not the request's contact), found later by guess or by a short scan.
   */
  slot(requestId: string, member: string, create = true, kind?: StepKind, index = true): number {
    // A request's steps often come in a row (applying then outcome, outcome then replied).
    if (sameId(requestId, this.lastId)) {
      if (kind !== undefined) this.cursor[kind] = this.lastSlot;
      return this.lastSlot;
    }
    if (this.capacity <= 0) return -1;
    // Requests pass each step in the order they took their slots (a batch of calls is received,
    // cast, ordered and applied in one order), so a step's request is most often in the slot
    // after the one the same step kind found last: an array read instead of the index.
    // Not for a step that starts a trace, but for `ordered` of a request received here: a new
    // request's guess is the slot about to be reused, and comparing with that long-untouched id
    // cost more than it ever found.
    // A recent slot is compared by its id string (by pointer, mostly: see `found`), an older one
    // by numbers, which takes reading the id (`parse`).
    let guess = -1;
    if (kind !== undefined && (STARTS[kind] === 0 || (kind === STEP.ordered && index))) {
      guess = this.cursor[kind]! + 1 === this.capacity ? 0 : this.cursor[kind]! + 1;
      const recent = this.recent[guess];
      if (recent !== undefined && sameId(requestId, recent)) return this.found(requestId, guess, kind);
    }
    this.parse(requestId);
    if (guess >= 0 && this.recent[guess] === undefined && this.matches(guess, requestId))
      return this.found(requestId, guess, kind);
    const indexed = this.indexed(requestId);
    if (indexed >= 0) return this.found(requestId, indexed, kind);
    // A step that follows others here may belong to an unindexed request the guess missed
    // (requests applied out of order: handler locks, async methods): the newest slots first.
    if (kind !== undefined && STARTS[kind] === 0 && this.unindexed > 0) {
      let at = this.next;
      for (let k = Math.min(SCAN, this.capacity); k > 0; k--) {
        at = at === 0 ? this.capacity - 1 : at - 1;
        const recent = this.recent[at];
        if (recent !== undefined ? sameId(requestId, recent) : this.matches(at, requestId))
          return this.found(requestId, at, kind);
      }
    }
    if (!create) return -1;
    const slot = this.next;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    this.evict(slot);
    let prefix = this.pp;
    if (prefix === -1) prefix = this.number(this.newPrefix);
    this.prefixes[slot] = prefix;
    if (prefix === TEXT_SPILLED) this.oddIds.set(slot, requestId);
    else {
      this.counters[slot] = this.pn;
      this.digits[slot] = this.pd;
    }
    if (this.members[slot] !== member) this.members[slot] = member;
    this.recent[slot] = requestId;
    const w = this.recentSlots;
    if (this.capacity > w) this.recent[slot >= w ? slot - w : slot - w + this.capacity] = undefined;
    this.live++;
    if (index) this.enter(slot, requestId);
    else {
      this.isUnindexed[slot] = 1;
      this.unindexed++;
    }
    return this.found(requestId, slot, kind);
  }

  private found(requestId: string, slot: number, kind: StepKind | undefined): number {
    // The request's next steps here most often come with this string (at a contact, the id
    // decoded from the order replaces the client packet's): compared by pointer.
    if (this.recent[slot] !== undefined) this.recent[slot] = requestId;
    this.lastId = requestId;
    this.lastSlot = slot;
    if (kind !== undefined) this.cursor[kind] = slot;
    return slot;
  }

  /**
   * Records step `kind` at `at` in `slot`, with the cells `FIELDS` names for that kind (NaN or
   * undefined: none; `flags` from {@link outcomeFlags}); a repeated `received` only counts the
   * copy. Positional, so that recording builds no object.
   */
  record(
    slot: number,
    kind: StepKind,
    at: number,
    a = Number.NaN,
    b = Number.NaN,
    s?: string,
    flags = 0,
  ): void {
    if (slot < 0) return;
    const cell = kind * this.capacity + slot;
    const bit = 1 << kind;
    const has = this.has[slot]!;
    if ((has & bit) !== 0) {
      if (kind === STEP.received) {
        const n = this.a[cell]!;
        this.a[cell] = (Number.isNaN(n) ? 1 : n) + 1;
        return;
      }
      if (this.steps[slot]! >= MAX_STEPS) return;
      const order = ++this.steps[slot]!;
      const step = toStep(kind, at, a, b, s, flags);
      const list = this.repeats.get(slot);
      if (list) list.push({ order, step });
      else this.repeats.set(slot, [{ order, step }]);
      return;
    }
    if (this.steps[slot]! >= MAX_STEPS) return;
    this.has[slot] = has | bit;
    this.order[cell] = ++this.steps[slot]!;
    this.at[cell] = at;
    // Numbers only where the kind has them (a trace reads a cell only where FIELDS names it):
    // fewer columns touched per step. The text is kept whatever the kind (`stepText`).
    if (HAS_A[kind] === 1) this.a[cell] = a;
    if (HAS_B[kind] === 1) this.b[cell] = b;
    const t = s === undefined ? 0 : this.textId(s, kind);
    this.s[cell] = t;
    if (t === TEXT_SPILLED) this.spilled.set(cell, s!);
    if (flags !== 0 || this.flags[cell] !== 0) this.flags[cell] = flags;
  }

  /**
   * The number of text `s` (numbered on first sight), or {@link TEXT_SPILLED} once the table is
   * full. `kind` picks the last-text cache: a step kind's text is mostly its last one (the same
   * method, the same client's address), compared by pointer or, for a copy, by content, with no
   * hashing.
   */
  private textId(s: string, kind: number): number {
    if (s === this.lastText[kind]) return this.lastTextId[kind]!;
    let id = this.textIds.get(s);
    if (id === undefined) {
      if (this.texts.length >= MAX_TEXTS) return TEXT_SPILLED;
      id = this.texts.length;
      this.texts.push(s);
      this.textIds.set(s, id);
    }
    this.lastText[kind] = s;
    this.lastTextId[kind] = id;
    return id;
  }

  /** The text of `cell` (its number `t`). */
  private text(cell: number): string | undefined {
    const t = this.s[cell]!;
    return t === 0 ? undefined : t === TEXT_SPILLED ? this.spilled.get(cell) : this.texts[t];
  }

  /** When step `kind` of `slot` was first recorded, or NaN. */
  stepAt(slot: number, kind: StepKind): number {
    return slot < 0 || (this.has[slot]! & (1 << kind)) === 0
      ? Number.NaN
      : this.at[kind * this.capacity + slot]!;
  }

  /** The string cell of step `kind` (its method, peer or error), if recorded. */
  stepText(slot: number, kind: StepKind): string | undefined {
    return slot < 0 || (this.has[slot]! & (1 << kind)) === 0
      ? undefined
      : this.text(kind * this.capacity + slot);
  }

  /** Sets the `b` cell (e.g. `ms`) of a step already recorded. */
  setB(slot: number, kind: StepKind, value: number): void {
    if (slot >= 0) this.b[kind * this.capacity + slot] = value;
  }

  /** Whether `slot` holds `requestId` still (the ring may have moved on). */
  holds(slot: number, requestId: string): boolean {
    if (slot < 0 || slot >= this.capacity) return false;
    this.parse(requestId);
    return this.matches(slot, requestId);
  }

  /**
   * Reads `id` as numbers into {@link pn}, {@link pd}, {@link pp}: its final digits (at most 15)
   * and the text number of what precedes them, -1 when that prefix is not numbered (yet:
   * {@link newPrefix}), {@link TEXT_SPILLED} for an id with no final digit.
   */
  private parse(id: string): void {
    let n = 0;
    let scale = 1;
    let i = id.length - 1;
    for (const stop = Math.max(0, id.length - 15); i >= stop; i--) {
      const digit = id.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) break;
      n += digit * scale;
      scale *= 10;
    }
    this.pn = n;
    this.pd = id.length - 1 - i;
    if (this.pd === 0) {
      this.pp = TEXT_SPILLED;
      return;
    }
    const last = this.lastPrefix;
    if (this.lastPrefixNo > 0 && i + 1 === last.length && id.startsWith(last)) {
      this.pp = this.lastPrefixNo;
      return;
    }
    const prefix = id.slice(0, i + 1);
    const known = this.textIds.get(prefix);
    if (known === undefined) {
      this.pp = -1;
      this.newPrefix = prefix;
      return;
    }
    // The table's own copy: a flat string (the slice is a view of this id).
    this.lastPrefix = this.texts[known]!;
    this.lastPrefixNo = known;
    this.pp = known;
  }

  /** Whether `slot` holds the id last {@link parse}d (`id`). */
  private matches(slot: number, id: string): boolean {
    const pp = this.pp;
    if (pp > 0 && pp !== TEXT_SPILLED)
      return this.prefixes[slot] === pp && this.counters[slot] === this.pn && this.digits[slot] === this.pd;
    return this.prefixes[slot] === TEXT_SPILLED && this.oddIds.get(slot) === id;
  }

  /** Numbers prefix `s` (or {@link TEXT_SPILLED}: the table is full). */
  private number(s: string): number {
    let id = this.textIds.get(s);
    if (id === undefined) {
      if (this.texts.length >= MAX_TEXTS) return TEXT_SPILLED;
      id = this.texts.length;
      // A copy of its own: `s` is a slice of a request id, which V8 keeps as a view of that id
      // (a sliced string holds its parent alive, and comparing with one takes a slower path).
      const copy = Buffer.from(s, 'utf16le').toString('utf16le');
      this.texts.push(copy);
      this.textIds.set(copy, id);
    }
    return id;
  }

  /** The request id `slot` holds (a string built afresh). */
  private idOf(slot: number): string {
    const prefix = this.prefixes[slot]!;
    if (prefix === TEXT_SPILLED) return this.oddIds.get(slot)!;
    const n = String(this.counters[slot]!);
    const d = this.digits[slot]!;
    return this.texts[prefix]! + (n.length < d ? n.padStart(d, '0') : n);
  }

  /** The table cell where a slot of prefix `p` and counter `n` is looked for first. */
  private home(p: number, n: number): number {
    return ((n | 0) + Math.imul(p, 0x9e3779b1)) & this.mask;
  }

  /** The indexed slot of the id last {@link parse}d (`id`), or -1. */
  private indexed(id: string): number {
    const pp = this.pp;
    if (pp > 0 && pp !== TEXT_SPILLED) {
      const t = this.table;
      const home = this.home(pp, this.pn);
      for (let k = 0; k < PROBE; k++) {
        const slot = t[(home + k) & this.mask]!;
        if (
          slot >= 0 &&
          this.prefixes[slot] === pp &&
          this.counters[slot] === this.pn &&
          this.digits[slot] === this.pd
        )
          return slot;
      }
    }
    return this.oddIndex.size > 0 ? (this.oddIndex.get(id) ?? -1) : -1;
  }

  /** Indexes `slot`, which holds `id`. */
  private enter(slot: number, id: string): void {
    const prefix = this.prefixes[slot]!;
    if (prefix === TEXT_SPILLED) {
      this.oddIndex.set(id, slot);
      return;
    }
    const t = this.table;
    const home = this.home(prefix, this.counters[slot]!);
    for (let k = 0; k < PROBE; k++) {
      const c = (home + k) & this.mask;
      if (t[c]! < 0) {
        t[c] = slot;
        this.cellOf[slot] = c;
        return;
      }
    }
    this.oddIndex.set(id, slot);
    this.overflowIds.set(slot, id);
  }

  /** Takes `slot` out of the index. */
  private unindex(slot: number): void {
    const c = this.cellOf[slot]!;
    if (c >= 0) {
      this.table[c] = -1;
      this.cellOf[slot] = -1;
      return;
    }
    let id = this.oddIds.get(slot);
    if (id === undefined) {
      id = this.overflowIds.get(slot);
      this.overflowIds.delete(slot);
    }
    if (id !== undefined && this.oddIndex.get(id) === slot) this.oddIndex.delete(id);
  }

  /**
   * The trace of `requestId`, built afresh, or undefined when not traced here. An unindexed
   * request can hold two slots (taken again after the guess and the scan missed its first): their
   * steps are merged in time order.
   */
  get(requestId: string): RequestTrace | undefined {
    if (this.capacity <= 0) return undefined;
    const held: number[] = [];
    this.parse(requestId);
    const indexed = this.indexed(requestId);
    if (indexed >= 0) held.push(indexed);
    if (this.unindexed > 0)
      for (let slot = 0; slot < this.capacity; slot++)
        if (this.isUnindexed[slot] === 1 && this.matches(slot, requestId)) held.push(slot);
    if (held.length <= 1) return held.length === 0 ? undefined : this.build(held[0]!);
    const traces = held.map((slot) => this.build(slot));
    const steps = traces.flatMap((t) => t.steps).sort((x, y) => x.at - y.at);
    return { requestId, member: traces[0]!.member, steps };
  }

  /** The first step `step` of `requestId`, if recorded. */
  step(requestId: string, step: TraceStep['step']): TraceStep | undefined {
    return this.get(requestId)?.steps.find((s) => s.step === step);
  }

  /**
   * Keeps `slot`'s request among the slow ones (the last `slowCapacity`): read through the ring
   * while it is there, copied out once before the ring reuses its slot. A loaded member can find
   * every request slow; this costs nothing per request until one is shown or forgotten.
   */
  markSlow(slot: number): void {
    if (slot < 0 || this.slowSlots[this.slowSlots.length - 1] === slot) return;
    this.slowSlots.push(slot);
    if (this.slowSlots.length + this.slowKept.length > this.slowCapacity) {
      if (this.slowKept.length > 0) this.slowKept.shift();
      else this.slowSlots.shift();
    }
  }

  /** The slow requests, oldest first. */
  slow(): RequestTrace[] {
    return [...this.slowKept.map(copyTrace), ...this.slowSlots.map((s) => this.build(s))];
  }

  private evict(slot: number): void {
    const prefix = this.prefixes[slot]!;
    if (prefix === 0) return;
    // A slow request leaving the ring is copied out, so the slow list outlives the ring.
    const i = this.slowSlots.length > 0 ? this.slowSlots.indexOf(slot) : -1;
    if (i >= 0) {
      this.slowKept.push(this.build(slot));
      this.slowSlots.splice(i, 1);
      if (this.slowKept.length + this.slowSlots.length > this.slowCapacity) this.slowKept.shift();
    }
    if (this.isUnindexed[slot] === 1) {
      this.isUnindexed[slot] = 0;
      this.unindexed--;
    } else this.unindex(slot);
    this.live--;
    if (prefix === TEXT_SPILLED) this.oddIds.delete(slot);
    this.prefixes[slot] = 0;
    this.recent[slot] = undefined;
    if (slot === this.lastSlot) this.lastId = undefined;
    if (this.repeats.size > 0) this.repeats.delete(slot);
    this.steps[slot] = 0;
    // A cell counts only once `has` marks it recorded (`record`, `stepAt`, `build`), so the
    // columns keep their stale values until overwritten.
    this.has[slot] = 0;
  }

  private build(slot: number): RequestTrace {
    const found: { order: number; step: TraceStep }[] = [];
    const has = this.has[slot]!;
    for (let k = 0; k < KINDS; k++) {
      const cell = k * this.capacity + slot;
      if ((has & (1 << k)) === 0) continue;
      found.push({
        order: this.order[cell]!,
        step: toStep(
          k as StepKind,
          this.at[cell]!,
          this.a[cell],
          this.b[cell],
          this.text(cell),
          this.flags[cell]!,
        ),
      });
    }
    for (const r of this.repeats.get(slot) ?? []) found.push({ order: r.order, step: { ...r.step } });
    found.sort((x, y) => x.order - y.order);
    return {
      requestId: this.idOf(slot),
      member: this.members[slot]!,
      steps: found.map((f) => f.step),
    };
  }
}

/**
 * `a === b` for request ids, answering most mismatches at their last character: ids are mostly
 * `clientId:counter` with one client id, so two different ones share all but the counter's last
 * digits, and a string comparison reads the whole shared prefix first (the ring asks this of
 * several requests per call that are not the last one).
 */
function sameId(a: string, b: string | undefined): boolean {
  return (
    b !== undefined &&
    a.length === b.length &&
    a.charCodeAt(a.length - 1) === b.charCodeAt(b.length - 1) &&
    a === b
  );
}

function toStep(
  kind: StepKind,
  at: number,
  a: number | undefined,
  b: number | undefined,
  s: string | undefined,
  flags: number,
): TraceStep {
  const name = NAMES[kind]!;
  const f = FIELDS[name];
  const step: TraceStep = { step: name, at };
  if (f.a && a !== undefined && !Number.isNaN(a)) step[f.a] = a;
  if (f.b && b !== undefined && !Number.isNaN(b)) step[f.b] = b;
  if (f.s && s !== undefined) step[f.s] = s;
  if (flags & (COMMITTED | INTERRUPTED)) step.status = flags & COMMITTED ? 'committed' : 'interrupted';
  if (flags & (OK | FAILED)) step.ok = (flags & OK) !== 0;
  return step;
}

/** A deep copy of `t` (callers get their own). */
export function copyTrace(t: RequestTrace): RequestTrace {
  return { ...t, steps: t.steps.map((s) => ({ ...s })) };
}
