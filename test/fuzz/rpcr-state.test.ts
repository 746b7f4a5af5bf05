// The fuzz suite's group-message and snapshot targets (issue 11 items 8 and 9: decodeGroupMsg
// threw TypeError on [{"toString":1}], Replica.restore threw TypeErrors on malformed snapshots).
import { describe, it } from 'vitest';
import { Bank } from '../../examples/bank/bank.js';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { TroupeError } from '../../runtime/errors.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { decodeGroupMsg } from '../../runtime/rpc/messages.js';
import { Replica } from '../../runtime/rpc/replica.js';
import { DecodeError } from '../../runtime/wire/index.js';
import { bytes, FUZZ_SEED_OFFSET, fuzzCount, fuzzTimeout, jsValue, mutate, rng, value } from './gen.js';

const N = fuzzCount(3_000);

function fuzz(target: string, seed: number, one: (r: () => number) => void, typed: (e: unknown) => boolean) {
  const r = rng(seed);
  for (let i = 0; i < N; i++) {
    try {
      one(r);
    } catch (e) {
      if (!typed(e))
        throw new Error(
          `${target}: seed ${seed + FUZZ_SEED_OFFSET} (TROUPE_FUZZ_SEED=${FUZZ_SEED_OFFSET}), input ${i}: ${(e as Error)?.stack ?? String(e)}`,
        );
    }
  }
}

describe(`fuzz suite, rpc state (${N.toLocaleString('en')} inputs per decoder)`, {
  timeout: fuzzTimeout(N),
}, () => {
  it('decodeGroupMsg: random arrays and mutations, DecodeError only', () => {
    fuzz(
      'decodeGroupMsg',
      29,
      (r) => {
        const v = [Math.floor(r() * 7), ...Array.from({ length: Math.floor(r() * 10) }, () => jsValue(r, 2))];
        let raw: Uint8Array;
        try {
          raw = encodeValue(r() < 0.1 ? [{ toString: 1 }] : v);
        } catch {
          return; // the generator made a value msgpack cannot carry: no input to decode
        }
        decodeGroupMsg(r() < 0.3 ? mutate(r, raw) : raw);
      },
      (e) => e instanceof DecodeError,
    );
  });

  it('Replica.restore: random snapshots, a TroupeError only, and the replica still snapshots', () => {
    fuzz(
      'Replica.restore',
      31,
      (r) => {
        const replica = new Replica(new Bank(), { validate: validateBankRequest });
        const good = replica.snapshot();
        const x = r();
        const snap =
          x < 0.3
            ? mutate(r, good)
            : x < 0.6
              ? encodeValue(jsValue(r, 4))
              : x < 0.8
                ? encodeValue(value(r))
                : bytes(r, 64);
        try {
          replica.restore(snap);
        } finally {
          replica.snapshot();
        }
      },
      (e) => e instanceof TroupeError,
    );
  });
});
