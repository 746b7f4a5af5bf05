
import { Handler, Ordered, Query, Service } from "/work/main/runtime/rpc/decorators.ts";

export class Root {
  protected n = 0;
  @Handler('audit') audit(): number { return this.n; }
  @Ordered() hidden(): number { return 1; }
}

export class CounterBase extends Root {
  @Ordered() inc(by: number): number { return (this.n += by); }
  @Query() get(): number { return this.n; }
  @Ordered() twice(): number { return 2; }
}

/** The user's case: the base class holds inc and get, the service adds reset. */
@Service('derived')
export class Derived extends CounterBase {
  @Ordered() reset(): number { this.n = 0; return 0; }
  // Redeclared: decorated differently here, or not at all (then not remote).
  @Query() twice(): number { return 2; }
  hidden(): number { return 0; }
}

/** A second service on the same base gets the inherited methods too. */
@Service('sibling')
export class Sibling extends CounterBase {}
