export interface GmsOptions {
  /** Heartbeat period. */
  heartbeatMs: number;
  /** A member silent this long is suspected. */
  suspectMs: number;
  /** A member that hears nothing from a majority of its view for this long stops (partitioned);
   * longer than suspectMs, so a busy process is not mistaken for a lost majority. */
  partitionMs: number;
  /** Joiners resend their join request this often. */
  joinRetryMs: number;
  /** A joiner that hears no member for this long may form the group (see bootstrap rule). */
  bootstrapMs: number;
  /** Membership events within this delay are folded into one view change. */
  batchMs: number;
  /** Seed addresses: where joiners look for the group. Their count is the bootstrap universe. */
  seeds: readonly string[];
  /** This member's own transport address. Written into views as given, except a wildcard one
   * (`0.0.0.0:7001`): then the alias among `seeds`, if any. */
  address: string;
  /** The seeds as the user wrote them (host names), where Joins go: the transport resolves a
   * name at every send, so Joins follow a seed that moved. Default: `seeds`. */
  seedNames?: readonly string[];
  /** Other addresses this member receives at (a wildcard-bound transport's interfaces): one of
   * them in `seeds` makes it a seed. */
  aliases?: readonly string[];
  /** Messages of views not installed yet that are held; more are dropped (then repaired by a flush). */
  maxFuture: number;
  /** Bytes of future-view messages held; non-members of our view get a quarter of it. */
  maxFutureBytes: number;
  /** Joiners a coordinator keeps a record of; Joins from further unknown ids are refused. */
  maxJoiners: number;
  /** Joiners admitted per second, at most (one view change may admit fewer, see docs). */
  maxJoinRate: number;
  /** Members a view may hold; Joins beyond are refused. At most {@link MAX_VIEW_MEMBERS}: an
   * attempt's key gives each rank its own value below 4096. */
  maxMembers: number;
  /** Keys the join nonces (docs/protocol.md, "The join round trip"); `Group` passes 32 random
   * bytes. Unset: drawn from the stack's random source (a simulator replays it). */
  joinSecret?: string;
}

export const DEFAULTS: Omit<GmsOptions, 'seeds' | 'address'> = {
  heartbeatMs: 100,
  suspectMs: 1_000,
  partitionMs: 3_000,
  joinRetryMs: 200,
  bootstrapMs: 600,
  batchMs: 5,
  maxFuture: 100_000,
  maxFutureBytes: 16 * 1024 * 1024,
  maxJoiners: 64,
  maxJoinRate: 20,
  maxMembers: 4_095,
};

/** The largest view: ranks 0..4094 key attempts apart (4095 is a non-member's). */
export const MAX_VIEW_MEMBERS = 4_095;
