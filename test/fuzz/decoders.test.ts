// The fuzz suite: every decoder a hostile peer can reach gets a bounded number of generated
// inputs (fast by default; TROUPE_FUZZ=long or TROUPE_FUZZ_N=N for a longer run) and must refuse
// bad ones with its typed error only: nothing else thrown, no layer error, no member crash.
// A failure names the target, the seed and the input index: rerun with the same seed.
import { describe, expect, it } from 'vitest';
import { validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { parseIdl } from '../../idl/parser.js';
import { createValidator } from '../../idl/validate.js';
import { TroupeError } from '../../runtime/errors.js';
import { com, fc, frag, gms, nak, pack, stable, total } from '../../runtime/layers/index.js';
import { encodeValue } from '../../runtime/rpc/codec.js';
import { ClientPacketDrop, decodeClientPacket } from '../../runtime/rpc/protocol.js';
import type { Effect, Layer, LayerContext, LayerFactory } from '../../runtime/stack/types.js';
import { PacketAuth } from '../../runtime/wire/auth.js';
import { DecodeError, decodePacket, encodePacket, groupIdOf, PacketType } from '../../runtime/wire/index.js';
import {
  bytes,
  FUZZ_SEED_OFFSET,
  fuzzCount,
  fuzzTimeout,
  header,
  jsValue,
  mutate,
  rng,
  value,
} from './gen.js';

const N = fuzzCount(3_000);
const SELF = '00000001.1';
const PEER = '00000002.1';

/** Runs `n` inputs; the first input that throws something other than `typed` fails the test. */
function fuzz(
  target: string,
  seed: number,
  n: number,
  one: (r: () => number, i: number) => void,
  typed: (e: unknown) => boolean,
) {
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    try {
      one(r, i);
    } catch (e) {
      if (!typed(e))
        throw new Error(
          `${target}: seed ${seed + FUZZ_SEED_OFFSET} (TROUPE_FUZZ_SEED=${FUZZ_SEED_OFFSET}), input ${i}: ${(e as Error)?.stack ?? String(e)}`,
        );
    }
  }
}

function fakeCtx(errors: unknown[]): LayerContext {
  let now = 0;
  return {
    self: SELF,
    groupName: 'g',
    now: () => (now += 1),
    random: rng(7),
    passDown: () => {},
    passUp: () => {},
    emit: (e: Effect) => {
      if (e.kind === 'error') errors.push(e.error);
    },
    defer: (f: () => void) => f(),
    setTimer: () => {},
    clearTimer: () => {},
    trace: () => {},
  };
}

const VIEW = { id: 3, members: [SELF, PEER], addresses: ['a:1', 'b:1'] };

/** A layer in a two-member view (learnt the way each layer learns views). */
function layerInView(factory: LayerFactory, errors: unknown[]): Layer {
  const l = factory.create(fakeCtx(errors), {});
  if (factory === gms) l.down({ type: 'join' });
  l.down({ type: 'view', view: VIEW });
  l.up({ type: 'view', view: VIEW });
  return l;
}

describe(`fuzz suite (${N.toLocaleString('en')} inputs per decoder)`, { timeout: fuzzTimeout(N) }, () => {
  it('decodePacket: random and mutated packets, DecodeError only', () => {
    const valid = encodePacket({
      type: PacketType.Stack,
      flags: 0,
      groupId: 42,
      sender: { node: 7, inc: 1 },
      headers: [[1, 0, 12], [0]],
      payload: new Uint8Array([1, 2, 3]),
    });
    fuzz(
      'decodePacket',
      11,
      N,
      (r, i) => decodePacket(i % 2 ? mutate(r, valid) : bytes(r, 80)),
      (e) => e instanceof DecodeError,
    );
  });

  it.each([pack, nak, stable, frag, gms, total, fc].map((f) => [f.name, f] as const))(
    'layer %s: random headers from a member and a stranger, DecodeError only, no layer error',
    (name, factory) => {
      const errors: unknown[] = [];
      const layer = layerInView(factory, errors);
      fuzz(
        `layer ${name}`,
        13,
        N,
        (r) => {
          const headers = [header(r)];
          if (r() < 0.5) headers.unshift(header(r)); // something above, for layers that pass up
          layer.up({
            type: 'deliver',
            msg: { headers, payload: r() < 0.9 ? new Uint8Array(0) : bytes(r, 64) },
            from: r() < 0.7 ? PEER : '00000bad.1',
            cast: r() < 0.5,
            meta: { seq: Math.floor(r() * 5) },
          });
          if (r() < 0.05)
            layer.timer?.(
              ['nak:00000002.1|0', 'gossip', 'flush', 'heartbeat', 'token'][Math.floor(r() * 5)]!,
            );
        },
        (e) => e instanceof DecodeError,
      );
      expect(errors).toEqual([]);
    },
  );

  it('com with a key: random and mutated bytes, no error effect', () => {
    const errors: unknown[] = [];
    const c = com.create(fakeCtx(errors), { key: 'fuzz group key, 32 bytes or more!' });
    const signer = new PacketAuth('fuzz group key, 32 bytes or more!');
    const valid = signer.encode({
      type: PacketType.Stack,
      flags: 0,
      groupId: groupIdOf('g'),
      sender: { node: 2, inc: 1 },
      headers: [[0]],
      payload: new Uint8Array(4),
    });
    fuzz(
      'com',
      17,
      N,
      (r, i) => c.receive!(i % 2 ? mutate(r, valid) : bytes(r, 80), '6.6.6.6:1'),
      () => false,
    );
    expect(errors).toEqual([]);
  });

  it('client packets: random payload values and mutations, ClientPacketDrop only', () => {
    const gid = groupIdOf('bank');
    fuzz(
      'decodeClientPacket',
      19,
      N,
      (r) => {
        const raw = encodePacket({
          type: PacketType.Client,
          flags: 0,
          groupId: gid,
          sender: { node: 5, inc: 0 },
          headers: [],
          payload: encodeValue([
            Math.floor(r() * 16), // every kind up to `replies` (15), and some unknown ones
            ...Array.from({ length: Math.floor(r() * 9) }, () => value(r)),
          ]),
        });
        decodeClientPacket(r() < 0.3 ? mutate(r, raw) : raw, gid);
      },
      (e) => e instanceof ClientPacketDrop,
    );
  });

  it('IDL validator: random methods and arguments, BadRequestError / UnknownMethodError only, bounded time', () => {
    const expr = createValidator(
      parseIdl(`package calc;
version 1;
enum NegOp { NEG = "neg"; }
enum NotOp { NOT = "not"; }
struct Lit { value: i32; }
struct Neg { arg: Expr; op: NegOp; }
struct Not { arg: Expr; op: NotOp; }
union Expr = Neg | Not | Lit;
service calc {
  query eval(e: Expr) -> i32;
}
`),
      'calc',
    );
    const methods = ['deposit', 'withdraw', 'transfer', 'audit', 'statement', 'balance', 'nope', 'toString'];
    const t0 = performance.now();
    fuzz(
      'validator',
      23,
      N,
      (r) => {
        if (r() < 0.3) {
          let v: unknown = r() < 0.5 ? { value: Math.floor(r() * 10) } : jsValue(r);
          for (let d = Math.floor(r() * 40); d > 0; d--) v = { arg: v, op: r() < 0.95 ? 'not' : 'neg' };
          expr('eval', [v]);
        } else {
          const args = r() < 0.8 ? Array.from({ length: Math.floor(r() * 5) }, () => jsValue(r)) : jsValue(r);
          validateBankRequest(methods[Math.floor(r() * methods.length)]!, args);
        }
      },
      (e) => e instanceof TroupeError && (e.code === 'BAD_REQUEST' || e.code === 'UNKNOWN_METHOD'),
    );
    expect(performance.now() - t0).toBeLessThan(Math.max(5_000, N)); // ~1 ms per input, generous
  });
});
