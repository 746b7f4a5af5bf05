/**
 * Batching at the contact (Nagle's rule for ordered calls): a request goes into the order at once
 * when this member has no earlier request cast still being ordered; otherwise it waits, with any
 * others that arrive meanwhile, and they all go as one `requests` cast the moment that earlier
 * cast comes back delivered. A lone call waits for nothing; under load the group orders,
 * acknowledges and keeps stable one message per batch instead of one per call, which is most of
 * what the group stack spends per call (docs/performance.md).
 *
 * The order is unchanged: the batch's requests keep their arrival order and are applied one
 * after another at the batch's place in the total order, exactly as if each had been cast alone
 * back to back at that moment. A request waiting here is not yet anywhere a client or another
 * member can see; if this member fails meanwhile, the client's retransmission or fail-over finds
 * the request unordered, as for a cast lost on the wire.
 *
 * No timer: a batch leaves when the cast before it is delivered, at the size bounds, at a view
 * change ({@link RequestBatcher.reset}), or when the client retransmits one of its requests
 * ({@link RequestBatcher.nudge}), so a delivery that never comes costs at most one retransmission
 * interval, never a stall.
 */
import type { QoS } from '../stack/types.js';
import { encodeGroupMsg, MAX_BATCH_PARTS } from './messages.js';

/** A batch leaves once its encoded requests reach this many bytes (frag splits larger casts). */
export const MAX_BATCH_BYTES = 32 * 1024;

export class RequestBatcher {
  /** Own request casts handed to the group and not yet seen delivered. */
  private inOrder = 0;
  /** Inside {@link hold}: requests wait for {@link release} even when none is in the order. */
  private held = false;
  private parts: Uint8Array[] = [];
  private ids: string[] = [];
  /** Per waiting request, its client's address (where a refusal is answered), if given. */
  private clients: (string | undefined)[] = [];
  private bytes = 0;
  private qos: QoS | undefined;
  /** Casts made (batches and lone requests) and requests they carried, for `stats()`. */
  casts = 0;
  requests = 0;

  /**
   * @param cast hands one encoded group message to the group's total order.
   * @param refuse told of a request the group refused to cast even alone (`cast` threw `error`):
   *   it is in no cast, so whoever holds it as being ordered must let go of it.
   */
  constructor(
    private readonly cast: (payload: Uint8Array, qos: QoS) => void,
    private readonly maxParts = MAX_BATCH_PARTS,
    private readonly maxBytes = MAX_BATCH_BYTES,
    private readonly refuse: (id: string, error: unknown, client: string | undefined) => void = () => {},
  ) {}

  /** Requests waiting for the next cast. */
  get waiting(): number {
    return this.parts.length;
  }

  /** Orders `request` (an encoded `request` message) now, or with the next batch. */
  submit(id: string, request: Uint8Array, qos: QoS, client?: string): void {
    if (this.qos && !sameQos(this.qos, qos)) this.flush();
    this.parts.push(request);
    this.ids.push(id);
    this.clients.push(client);
    this.bytes += request.byteLength;
    // One request whose every replica's delivery is awaited makes the whole batch so.
    if (this.qos === undefined || qos.awaited !== 'sender') this.qos = qos;
    if (
      (this.inOrder === 0 && !this.held) ||
      this.parts.length >= this.maxParts ||
      this.bytes >= this.maxBytes
    )
      this.flush();
  }

  /** Requests submitted until {@link release} go together (one client packet's calls). */
  hold(): void {
    this.held = true;
  }

  /** Ends {@link hold}: what waits goes now if nothing of this member's is being ordered. */
  release(): void {
    this.held = false;
    if (this.inOrder === 0) this.flush();
  }

  /** One of this member's request casts came back delivered: the next batch may go. */
  delivered(): void {
    if (this.inOrder > 0) this.inOrder--;
    if (this.inOrder === 0) this.flush();
  }

  /** The client retransmitted `id`: if it is still waiting here, its batch goes now. */
  nudge(id: string): void {
    if (this.ids.includes(id)) this.flush();
  }

  /**
   * A new view: casts of the last one that were not delivered are recast by the ordering layer
   * or lost with it, and this member cannot tell which here; waiting requests go now.
   */
  reset(): void {
    this.inOrder = 0;
    this.flush();
  }

  /** Cut off from the group: waiting requests are forgotten (their clients retransmit). */
  drop(): void {
    this.inOrder = 0;
    this.clear();
  }

  /**
   * Casts what waits: one request as itself, several as one `requests` message. Never throws: a
   * batch the group refuses (e.g. over its `maxMessage`) goes as its requests one by one, as each
   * would have gone without batching; a request the group refuses alone is counted in
   * {@link refused} and handed to `refuse` (the replica answers its client).
   */
  flush(): void {
    const n = this.parts.length;
    if (n === 0) return;
    const parts = this.parts;
    const ids = this.ids;
    const clients = this.clients;
    const qos = this.qos!;
    this.clear();
    if (n > 1 && this.tryCast(encodeGroupMsg({ kind: 'requests', parts }), qos, n) === undefined) return;
    for (let i = 0; i < n; i++) {
      const error = this.tryCast(parts[i]!, qos, 1);
      if (error === undefined) continue;
      this.refused++;
      this.refuse(ids[i]!, error, clients[i]);
    }
  }

  /** Requests the group refused to cast even alone (the cast threw). */
  refused = 0;

  /** Casts `payload`; what the group threw if it refused it (`undefined`: cast). */
  private tryCast(payload: Uint8Array, qos: QoS, n: number): unknown {
    // Counted first: a group may deliver a cast before `cast` returns.
    this.inOrder++;
    try {
      this.cast(payload, qos);
    } catch (e) {
      if (this.inOrder > 0) this.inOrder--;
      return e ?? new Error('cast refused');
    }
    this.casts++;
    this.requests += n;
    return undefined;
  }

  private clear(): void {
    this.parts = [];
    this.ids = [];
    this.clients = [];
    this.bytes = 0;
    this.qos = undefined;
  }
}

function sameQos(a: QoS, b: QoS): boolean {
  return a === b || (a.order === b.order && a.resilience === b.resilience && a.k === b.k);
}
