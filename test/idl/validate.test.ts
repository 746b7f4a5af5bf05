import { describe, expect, it, vi } from 'vitest';
import { UnknownMethodError } from '../../idl/errors.js';
import { parseIdl } from '../../idl/parser.js';
import { createValidator } from '../../idl/validate.js';
import { BadRequestError } from '../../runtime/errors.js';

const model = parseIdl(`package shop;
version 1;
struct Item { sku: string; qty: u16; note?: string; }
struct Circle { r: f64; }
struct Square { side: f64; }
union Shape = Circle | Square;
union Size = "s" | "m" | 3;
enum Color { RED = "red"; BLUE = "blue"; }
struct Order {
  items: Item[];
  prices: map<string, f64>;
  at: timestamp;
  blob?: bytes;
  id: bigint;
  color: Color;
  shape: Shape;
  size: Size;
  maybe: i32?;
}
service shop {
  ordered place(order: Order, rush: bool = false) -> string;
  query count(n: i8, label?: string);
  query anything(x: any);
}
`);

const validOrder = () => ({
  items: [{ sku: 'a', qty: 2 }],
  prices: { a: 1.5 },
  at: new Date(0),
  id: 7n,
  color: 'red',
  shape: { r: 1 },
  size: 3,
  maybe: null,
});

/** Runs the validator the way the server does: user code only runs when validation passes. */
function call(method: string, args: unknown) {
  const userCode = vi.fn();
  const validate = createValidator(model, 'shop');
  try {
    userCode(...validate(method, args));
    return { ran: userCode.mock.calls.length === 1, args: userCode.mock.calls[0] };
  } catch (e) {
    expect(userCode).not.toHaveBeenCalled();
    return { error: e as Error };
  }
}

function badRequest(method: string, args: unknown): BadRequestError {
  const r = call(method, args);
  expect(r.error).toBeInstanceOf(BadRequestError);
  return r.error as BadRequestError;
}

describe('createValidator', () => {
  it('passes well-typed arguments and fills defaults', () => {
    const r = call('place', [validOrder()]);
    expect(r.ran).toBe(true);
    expect(r.args).toStrictEqual([validOrder(), false]);
    expect(call('count', [-128]).args).toStrictEqual([-128]);
    expect(call('anything', [{ f: 1 }]).ran).toBe(true);
  });

  it.each([
    [
      'items[1].qty',
      {
        items: [
          { sku: 'a', qty: 1 },
          { sku: 'b', qty: 70000 },
        ],
      },
      'expected u16, got number 70000',
    ],
    ['items[0].qty', { items: [{ sku: 'a', qty: 1.5 }] }, 'expected u16, got number 1.5'],
    ['items[0].sku', { items: [{ qty: 1 }] }, "missing required field 'sku' of Item"],
    ['items[0].note', { items: [{ sku: 'a', qty: 1, note: 5 }] }, 'expected string, got number 5'],
    ['prices["x y"]', { prices: { 'x y': 'cheap' } }, 'expected f64, got string'],
    ['prices', { prices: [1] }, 'expected map<string, f64>, got array'],
    ['at', { at: '2024-01-01' }, 'expected timestamp, got string'],
    ['blob', { blob: [1, 2] }, 'expected bytes, got array'],
    ['id', { id: 7 }, 'expected bigint, got number 7'],
    ['color', { color: 'green' }, 'expected Color (one of "red", "blue"), got string'],
    ['shape', { shape: { x: 1 } }, 'expected Shape (Circle | Square), got object'],
    ['size', { size: 'xl' }, 'expected Size ("s" | "m" | 3), got string'],
    ['maybe', { maybe: 'no' }, 'expected i32, got string'],
  ])('rejects a bad value at %s', (path, patch, message) => {
    const e = badRequest('place', [{ ...validOrder(), ...patch }]);
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.method).toBe('place');
    expect(e.param).toBe('order');
    expect(e.path).toBe(path);
    expect(e.message).toBe(`shop.place: argument 'order' at '${path}': ${message}`);
  });

  it('names the parameter for top-level mismatches', () => {
    const e = badRequest('count', ['12']);
    expect([e.param, e.path, e.message]).toStrictEqual([
      'n',
      undefined,
      "shop.count: argument 'n': expected i8, got string",
    ]);
    expect(badRequest('count', [128]).param).toBe('n');
    expect(badRequest('place', [validOrder(), 'yes']).param).toBe('rush');
  });

  it('rejects missing required, extra and non-array arguments', () => {
    expect(badRequest('place', []).message).toBe("shop.place: missing required argument 'order'");
    // An omitted argument arrives as nil over the wire: missing, not "expected i8, got null".
    expect(badRequest('count', [null]).message).toBe("shop.count: missing required argument 'n' (got null)");
    expect(badRequest('count', [1, 'a', 'extra']).message).toBe(
      'shop.count: expected at most 2 argument(s), got 3',
    );
    expect(badRequest('count', { 0: 1 }).message).toBe('shop.count: arguments must be an array');
  });

  it('treats null as omitted for an optional parameter', () => {
    expect(call('place', [validOrder(), null]).args).toStrictEqual([validOrder(), false]);
  });

  it('raises a typed error for an unknown method, including prototype names', () => {
    for (const name of ['refund', 'constructor', '__proto__']) {
      const r = call(name, []);
      expect(r.error).toBeInstanceOf(UnknownMethodError);
      expect((r.error as UnknownMethodError).code).toBe('UNKNOWN_METHOD');
    }
  });

  it('refuses an unknown service at construction', () => {
    expect(() => createValidator(model, 'nope')).toThrow("has no service 'nope'");
  });
});

describe('validation time is linear in the size of the value', () => {
  // Issue 11 item 7: Neg and Not both recurse through Expr; a value of Nots makes every level try
  // Neg first, check the whole subtree, fail on `op`, then check it again as Not: 2^depth.
  const exprModel = parseIdl(`package calc;
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
`);
  const validate = createValidator(exprModel, 'calc');
  const nots = (depth: number, leaf: unknown = { value: 1 }): unknown => {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = { arg: v, op: 'not' };
    return v;
  };

  it('a valid value nested 20 deep (2^20 checks before the fix: 25 s here) validates in well under a second', () => {
    const t0 = performance.now();
    expect(validate('eval', [nots(20)])).toHaveLength(1);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('400 levels take well under a second; 5,000 are refused, not a stack overflow; a bad leaf is found', () => {
    const t0 = performance.now();
    expect(validate('eval', [nots(400)])).toHaveLength(1); // 800 named types entered, of 1,000
    expect(() => validate('eval', [nots(5_000)])).toThrow(BadRequestError);
    expect(() => validate('eval', [nots(3, { value: 'x' })])).toThrow(BadRequestError);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(() => validate('eval', [nots(2, { value: 1.5 })])).toThrow(
      expect.objectContaining({ param: 'e', code: 'BAD_REQUEST' }),
    );
  });
});
