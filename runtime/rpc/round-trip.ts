/**
 * The client's retransmission timeout (Jacobson/Karels, as TCP's RTO, RFC 6298): a smoothed
 * round trip and its mean deviation, fed by completed calls. A loaded group that answers slowly
 * raises the timeout, so it is not hit by duplicate calls exactly when it is busiest
 * (docs/rpc.md, "Retransmission").
 *
 * @example
 * ```ts
 * const rtt = new RoundTrip();
 * rtt.sample(12); // a call answered 12 ms after its first packet
 * rtt.timeout(100); // 100: never below the floor
 * ```
 */
export class RoundTrip {
  /** Smoothed round trip (ms); undefined until the first sample. */
  private srtt: number | undefined;
  /** Smoothed mean deviation (ms). */
  private rttvar = 0;

  /**
   * One completed call's round trip, measured from its first packet even when it was sent again:
   * the answer to a later copy then reads as a longer round trip, never a shorter one (the error
   * Karn's rule guards against), and a group slower than the floor still raises the timeout
   * although every call to it was retransmitted once.
   */
  sample(ms: number): void {
    const r = Math.max(0, ms);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
  }

  /**
   * The timeout: the round trip plus four deviations, at least `floor`, at most 16 × `floor` (so a
   * lost packet is still recovered within a few ticks of the floor's scale).
   */
  timeout(floor: number): number {
    if (this.srtt === undefined) return floor;
    return Math.min(Math.max(floor, this.srtt + 4 * this.rttvar), 16 * floor);
  }
}
