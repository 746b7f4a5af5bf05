/**
 * A replicated bank account service: the example used throughout the docs and the input of
 * the committed `generated/` stub, IDL and model (`npm run gen:check` keeps them in sync).
 */
import { Handler, Ordered, Query, Service, TroupeError } from 'troupe';
import type { u32 } from 'troupe/idl';

/** Totals over every account, as computed by one replica. */
export interface AuditReport {
  /** Sum of all balances. */
  total: number;
  /** Number of open accounts. */
  accounts: u32;
}

/** What happened to an account, oldest first. */
export interface Statement {
  account: string;
  balance: number;
  generatedAt: Date;
  entries: Entry[];
}

export type EntryKind = 'deposit' | 'withdraw';

export interface Entry {
  kind: EntryKind;
  amount: number;
}

/** A withdrawal asked for more than the balance holds. */
export class InsufficientFunds extends TroupeError {
  constructor(
    readonly account: string,
    readonly balance: number,
    readonly requested: number,
  ) {
    super('INSUFFICIENT_FUNDS', `account ${account} holds ${balance}, cannot withdraw ${requested}`);
  }
}

/** An amount that is not a positive, finite number (a negative deposit would be a withdrawal
 * without the balance check, and NaN would make the balance NaN for good). */
export class BadAmount extends TroupeError {
  constructor(readonly amount: number) {
    super('BAD_AMOUNT', `an amount must be a positive, finite number, not ${amount}`);
  }
}

function checkAmount(amount: number): void {
  if (!(Number.isFinite(amount) && amount > 0)) throw new BadAmount(amount);
}

/** Bank accounts replicated over an object group; every replica holds every account. */
@Service('bank')
export class Bank {
  private balances = new Map<string, number>();
  private history = new Map<string, Entry[]>();

  /**
   * @param statementEntries how many of an account's latest entries its statement keeps (default:
   *   all). The benchmarks keep 100, so the state a replica holds, snapshots, transfers and digests
   *   does not grow with the number of calls they make.
   */
  constructor(private readonly statementEntries = Number.POSITIVE_INFINITY) {}

  /**
   * Adds `amount` to `account`, opening it if needed.
   * @returns the new balance.
   * @throws {BadAmount} when `amount` is not a positive, finite number.
   */
  @Ordered()
  deposit(account: string, amount: number): number {
    checkAmount(amount);
    return this.apply(account, { kind: 'deposit', amount });
  }

  /**
   * Takes `amount` from `account`.
   * @returns the new balance.
   * @throws {InsufficientFunds} when the balance is lower than `amount`.
   * @throws {BadAmount} when `amount` is not a positive, finite number.
   */
  @Ordered()
  withdraw(account: string, amount: number): number {
    checkAmount(amount);
    const balance = this.balances.get(account) ?? 0;
    if (balance < amount) throw new InsufficientFunds(account, balance, amount);
    return this.apply(account, { kind: 'withdraw', amount });
  }

  /** Totals over all accounts; every replica answers, so callers can compare them. */
  @Ordered({ reply: 'all' })
  audit(): AuditReport {
    let total = 0;
    for (const b of this.balances.values()) total += b;
    return { total, accounts: this.balances.size };
  }

  /** Current balance, answered by one replica from its local state. */
  @Query()
  balance(account: string): number {
    return this.balances.get(account) ?? 0;
  }

  /**
   * Full statement, oldest entry first (a bank built with `statementEntries` keeps that many);
   * runs under the `statements` lock, outside the total order.
   */
  @Handler('statements')
  async statement(account: string): Promise<Statement> {
    return {
      account,
      balance: this.balances.get(account) ?? 0,
      generatedAt: new Date(),
      entries: [...(this.history.get(account) ?? [])],
    };
  }

  /**
   * State transfer to a joining replica; not part of the contract. The statements are copied:
   * `apply` appends in place, and a snapshot must not change after it is taken.
   */
  snapshot(): { balances: [string, number][]; history: [string, Entry[]][] } {
    return { balances: [...this.balances], history: [...this.history].map(([a, es]) => [a, [...es]]) };
  }

  /** Installs a state received from {@link snapshot} (copied, so the giver's arrays stay its own). */
  restore(state: { balances: [string, number][]; history: [string, Entry[]][] }): void {
    this.balances = new Map(state.balances);
    this.history = new Map(state.history.map(([a, es]) => [a, [...es]]));
  }

  private apply(account: string, entry: Entry): number {
    const next =
      (this.balances.get(account) ?? 0) + (entry.kind === 'deposit' ? entry.amount : -entry.amount);
    this.balances.set(account, next);
    // Appended in place: copying the statement per call made a deposit cost O(history).
    const entries = this.history.get(account);
    if (!entries) this.history.set(account, [entry]);
    else {
      entries.push(entry);
      if (entries.length > this.statementEntries) entries.shift();
    }
    return next;
  }
}
