// The service a new user writes (the package check copies it into a fresh project).
import { Handler, Ordered, Query, Service } from 'troupe';

@Service('kv')
export class Kv {
  private data = new Map<string, string>();

  /** Sets `key`; returns how many keys there are. */
  @Ordered()
  put(key: string, value: string): number {
    this.data.set(key, value);
    return this.data.size;
  }

  @Query()
  get(key: string): string | undefined {
    return this.data.get(key);
  }

  @Ordered({ reply: 'all' })
  size(): number {
    return this.data.size;
  }

  /** Run by the holder of lock 'report' only. */
  @Handler('report')
  report(): string {
    return [...this.data.keys()].sort().join(',');
  }
}
