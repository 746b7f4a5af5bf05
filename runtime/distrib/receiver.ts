/**
 * An AFDP receiver: a transfer group's member that places every bundle it receives into a
 * directory. `troupe dist receive` runs one alone; `troupe serve --receive-dir` runs one beside a
 * replica, so a fleet of long-lived replica processes takes pushes from `troupe dist`.
 */
import { randomBytes } from 'node:crypto';
import { type AfdpEvent, afdp, BULK_STACK } from '../bulk/afdp.js';
import { com } from '../layers/com.js';
import { secureRandom } from '../secure-random.js';
import { buildStack, LayerRegistry, parseSpec } from '../stack/builder.js';
import { memberId } from '../stack/member.js';
import type { Stack } from '../stack/stack.js';
import type { Effect } from '../stack/types.js';
import type { Transport } from '../transport/types.js';
import type { AuthKey } from '../wire/auth.js';
import { DistError, heldChunks, PartFile, place } from './bundle.js';

/**
 * Drives one afdp stack over a real UDP socket: packets and timers in, effects out. The stack
 * itself is sans-IO (runtime/bulk/afdp.ts); this is its only clock and socket.
 */
export class Driver {
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  /** Test hook (`--drop`): discard this fraction of received datagrams, to exercise repair. */
  constructor(
    readonly stack: Stack,
    private readonly transport: Transport,
    private readonly onUp: (e: Effect & { kind: 'up' }) => void,
    private readonly drop = 0,
  ) {
    transport.onPacket((bytes, from) => {
      if (this.drop > 0 && Math.random() < this.drop) return;
      this.apply(this.stack.receive(bytes, from, this.now()));
    });
  }

  now(): number {
    return performance.now() - this.t0;
  }

  apply(effects: Effect[]): void {
    for (const e of effects) {
      if (e.kind === 'transmit') {
        if (e.to === null) this.transport.multicast(e.bytes);
        else this.transport.send(e.to, e.bytes);
      } else if (e.kind === 'peers') this.transport.setPeers(e.addresses);
      else if (e.kind === 'up') this.onUp(e);
      else if (e.kind === 'error') throw e.error;
    }
    this.schedule();
  }

  private schedule(): void {
    const at = this.stack.nextDeadline();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (at === undefined) return;
    this.timer = setTimeout(() => this.apply(this.stack.advance(this.now())), Math.max(0, at - this.now()));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.transport.close();
  }
}

/** The afdp stack of a transfer group member: com (keyed when `key` is given) under afdp. */
export function build(group: string, key: AuthKey | undefined, afdpOpts: Record<string, unknown>): Stack {
  return buildStack(
    parseSpec(BULK_STACK, {
      com: key !== undefined ? { key } : {},
      // The sender's address cookies: from node:crypto, not the stack's Math.random.
      afdp: { cookieSecret: randomBytes(16), ...afdpOpts },
    }),
    new LayerRegistry([com, afdp]),
    {
      self: memberId({ node: randomBytes(4).readUInt32BE(0), inc: 1 }),
      groupName: group,
      // The OS generator, as members' stacks have (runtime/secure-random.ts): Math.random's
      // state can be recovered from a few of its outputs.
      random: secureRandom(),
    },
  );
}

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  /** Where received files are placed (atomically; modes and mtimes kept). */
  dir: string;
  /** The transfer group's name: what the sender's `--to` names. */
  group: string;
  /** The group key; without it the receiver is insecure (the caller has checked that is meant). */
  key?: AuthKey;
  /** A bound transport; the receiver owns it from here and closes it. */
  transport: Transport;
  /** Test hook: discard this fraction of received datagrams, to exercise repair. */
  drop?: number;
  /** A transfer was placed. */
  onPlaced?: (r: { written: number; held: number; bytes: number }) => void;
  /** Something went wrong; `ended` when the transfer is over for this receiver (nothing placed). */
  onProblem?: (line: string, ended: boolean) => void;
}

/** A running receiver. */
export interface Receiver {
  /** The address senders list in `--seeds`. */
  readonly address: string;
  /** Stops receiving and closes the transport (a placement under way finishes first). */
  close(): Promise<void>;
}

/**
 * Starts a receiver of transfer group `group` on `transport`.
 *
 * @example
 * ```ts
 * const r = startReceiver({ dir: '/srv/releases', group: 'fleet', key, transport: await udp({ port: 47000 }) });
 * // elsewhere: troupe dist ./release --to fleet --seeds <r.address>,... --key-file k
 * await r.close();
 * ```
 */
export function startReceiver(o: ReceiverOptions): Receiver {
  let placing = Promise.resolve();
  /** The transfer under way: its chunks go to a part file in `dir`, never into memory. */
  let part: PartFile | undefined;
  const abandon = () => {
    part?.remove();
    part = undefined;
  };
  const stack = build(o.group, o.key, {
    holdings: (catalog: Uint8Array, chunk: number, size: number) => heldChunks(o.dir, catalog, chunk, size),
    sink: (size: number) => {
      abandon(); // a new transfer: the previous one's part, if unfinished, is of no use
      part = new PartFile(o.dir, size);
      return part;
    },
    onEvent: (e: AfdpEvent) => {
      if (e.type === 'corrupt') o.onProblem?.('a transfer failed its digest; fetching again', false);
      else if (e.type === 'refused')
        o.onProblem?.(
          `ignored an announce of transfer ${e.xfer} from ${e.from} at ${e.address}: the transfer from ${e.current} is under way (at most one such line a second)`,
          false,
        );
      else if (e.type === 'failed') {
        abandon();
        o.onProblem?.(`could not keep the transfer: ${e.reason}; nothing placed`, true);
      } else if (e.type === 'cut') {
        abandon();
        o.onProblem?.(
          `dropped by the sender (below its rate floor, or silent) holding ${e.have} of ${e.count} chunks; nothing placed`,
          true,
        );
      }
    },
  });
  const driver = new Driver(
    stack,
    o.transport,
    (e) => {
      if (e.event.type !== 'deliver' || !part) return;
      const done = part;
      part = undefined;
      // Placement is serialized: one transfer's files are all in place before the next's start.
      placing = placing.then(async () => {
        try {
          // Placed before the optional call: `o.onPlaced?.(await place(…))` skipped its argument,
          // and so the placing, whenever no onPlaced was given.
          const placed = await place(
            o.dir,
            (offset, length, into) => done.read(offset, length, into),
            done.size,
          );
          o.onPlaced?.(placed);
        } catch (err) {
          o.onProblem?.(`${err instanceof DistError ? `${err.code}: ` : ''}${String(err)}`, true);
        } finally {
          done.remove();
        }
      });
    },
    o.drop ?? 0,
  );
  return {
    address: o.transport.address,
    close: async () => {
      await placing;
      await driver.close();
      abandon();
    },
  };
}
