import type { World } from './world.js';

/** An invariant checked over a finished run; returns one line per violation. */
export interface Checker {
  name: string;
  check(w: World): string[];
}

const alive = (w: World) => w.incarnations.filter((i) => i.crashedAt === null);

/** Per-sender FIFO: a receiver delivers each sender's casts in cast order, with no gaps. */
export const fifo: Checker = {
  name: 'fifo',
  check: (w) => {
    const out: string[] = [];
    for (const inc of w.incarnations) {
      const last = new Map<string, number>();
      for (const d of inc.delivered) {
        const n = Number(d.payload.slice(d.payload.indexOf('#') + 1));
        // Reliable FIFO without join points: each sender's casts arrive as a gap-free prefix.
        const prev = last.get(d.from) ?? -1;
        if (n !== prev + 1) out.push(`${inc.member} delivered ${d.payload} after #${prev}`);
        last.set(d.from, n);
      }
    }
    return out;
  },
};

/** No message is delivered twice at a member. */
export const noDuplicates: Checker = {
  name: 'no-duplicates',
  check: (w) => {
    const out: string[] = [];
    for (const inc of w.incarnations) {
      const seen = new Set<string>();
      for (const d of inc.delivered) {
        if (seen.has(d.payload)) out.push(`${inc.member} delivered ${d.payload} twice`);
        seen.add(d.payload);
      }
    }
    return out;
  },
};

/** Every delivered message was cast, by the member it is attributed to. */
export const noInvented: Checker = {
  name: 'no-invented',
  check: (w) => {
    const cast = new Map<string, string>();
    for (const inc of w.incarnations) for (const p of inc.casts) cast.set(p, inc.member);
    const out: string[] = [];
    for (const inc of w.incarnations)
      for (const d of inc.delivered)
        if (cast.get(d.payload) !== d.from)
          out.push(`${inc.member} delivered ${d.payload} from ${d.from}, never cast`);
    return out;
  },
};

/** Once faults stop, every live member has delivered every message of every live sender. */
export const liveDelivery: Checker = {
  name: 'live-delivery',
  check: (w) => {
    const out: string[] = [];
    const live = alive(w);
    for (const r of live) {
      const got = new Set(r.delivered.map((d) => d.payload));
      for (const s of live) {
        const missing = s.casts.filter((p) => !got.has(p));
        if (missing.length > 0)
          out.push(`${r.member} misses ${missing.length} of ${s.member}'s casts (first ${missing[0]})`);
      }
    }
    return out;
  },
};

/** No layer threw, and no message was reported unrecoverable. */
export const noErrors: Checker = {
  name: 'no-errors',
  check: (w) => w.incarnations.flatMap((i) => i.errors.map((e) => `${i.member}: ${e}`)),
};

export const NAK_CHECKERS: readonly Checker[] = [fifo, noDuplicates, noInvented, liveDelivery, noErrors];
