import { describe, expect, it } from 'vitest';
import { IdlParseError } from '../../idl/errors.js';
import { parseIdl } from '../../idl/parser.js';
import { printIdl } from '../../idl/printer.js';

const FULL = `/// The bank.
package bank;
version 2;

/// A report.
struct Report {
  /// Sum of balances.
  total: f64;
  accounts?: u32;
  tags: map<string, string[]>?;
  when: timestamp;
  raw: bytes;
  big: bigint;
  flags: bool[];
  small: i8;
}

enum Currency {
  EUR = "eur";
  USD = "usd";
}

enum Level {
  /// Lowest.
  LOW = 1;
  HIGH = 2;
}

union Mode = "fast" | 3 | true;

union Shape = Report;

error Insufficient {
  account: string;
  needed: f64;
}

service bank {
  /// Deposit.
  ///
  /// Second paragraph.
  ordered deposit(account: string, amount: f64 = 0) -> f64 throws Insufficient [timeout = 100, qos = "k=2"];
  oneway ordered notify(msg?: string);
  query balance(a: string) -> f64 [reply = all, consistency = ordered];
  handler("statements") statement(a: string, cur: Currency = "eur") -> Report?;
  ordered shapes(
    /// Documented parameter.
    s: Shape[],
    m: Mode
  ) -> Level [reply = majority];
}
`;

function parseError(text: string): IdlParseError {
  try {
    parseIdl(text, 'f.idl');
  } catch (e) {
    if (e instanceof IdlParseError) return e;
    throw e;
  }
  throw new Error('expected a parse error');
}

const HEAD = 'package p;\nversion 1;\n';

describe('parseIdl / printIdl', () => {
  it('prints canonical text that parses back to the same model', () => {
    const m = parseIdl(FULL, 'full.idl');
    expect(printIdl(m)).toBe(FULL);
    expect(parseIdl(printIdl(m))).toStrictEqual(m);
  });

  it('builds the model with kinds, options, defaults and docs', () => {
    const m = parseIdl(FULL);
    const [deposit, notify, balance, statement] = m.services[0]!.methods;
    expect(m.doc).toBe('The bank.');
    expect(deposit).toStrictEqual({
      name: 'deposit',
      kind: 'ordered',
      params: [
        { name: 'account', type: { kind: 'prim', name: 'string' }, optional: false },
        { name: 'amount', type: { kind: 'prim', name: 'f64' }, optional: true, default: 0 },
      ],
      returns: { kind: 'prim', name: 'f64' },
      throws: ['Insufficient'],
      options: { reply: 'first', timeoutMs: 100, qos: 'k=2' },
      doc: 'Deposit.\n\nSecond paragraph.',
    });
    expect(notify!.options.reply).toBe('none');
    expect(notify!.returns).toBeUndefined();
    expect(balance!.options).toStrictEqual({ reply: 'all', consistency: 'ordered' });
    expect(statement!.lock).toBe('statements');
    expect(statement!.returns).toStrictEqual({ kind: 'optional', of: { kind: 'ref', name: 'Report' } });
  });

  it('formats messy but valid input canonically (idempotent)', () => {
    const messy = `package p; version 1;
service s { // trailing comment
  query   get( a :string , b? : i32[] ) ->string  ;
}
struct A{x:f64;}`;
    const once = printIdl(parseIdl(messy));
    expect(once).toBe(
      'package p;\nversion 1;\n\nstruct A {\n  x: f64;\n}\n\nservice s {\n  query get(a: string, b?: i32[]) -> string;\n}\n',
    );
    expect(printIdl(parseIdl(once))).toBe(once);
  });

  it('prints empty bodies and reply = none as oneway', () => {
    const m = parseIdl(`${HEAD}struct E {}\nservice s { ordered ping() [reply = none]; }`);
    expect(printIdl(m)).toBe(`${HEAD}\nstruct E {}\n\nservice s {\n  oneway ordered ping();\n}\n`);
  });
});

describe('parse errors carry file, line, column and a hint', () => {
  const cases: Array<[string, string, number, number, string | undefined]> = [
    ['version 1;', "expected 'package', found 'version'", 1, 1, 'a file starts with `package <name>;`'],
    [`${HEAD}struct A { x: f32; }`, "unknown type 'f32'", 3, 15, "did you mean 'f64'?"],
    [`${HEAD}struct A { x: Strin; }`, "unknown type 'Strin'", 3, 15, "did you mean 'string'?"],
    [
      `${HEAD}struct A {\n  x: f64\n}`,
      "expected ';' after the type of field 'x', found '}'",
      5,
      1,
      'every field ends with `;`',
    ],
    [
      `${HEAD}service s {\n  ordred f();\n}`,
      "unknown method kind 'ordred'",
      4,
      3,
      "use 'ordered', 'query' or 'handler(\"lock\")'",
    ],
    [
      `${HEAD}service s { handler f(); }`,
      "expected '(' after 'handler', found 'f'",
      3,
      21,
      'a handler names its lock: `handler("statements")`',
    ],
    [
      `${HEAD}service s { ordered f() [qos = "bulk"]; }`,
      "unknown qos 'bulk'",
      3,
      32,
      'qos is "none", "majority", "safe" or "k=N" (N from 1 to 999)',
    ],
    [
      `${HEAD}service s { query f() [reply = some]; }`,
      "unknown reply mode 'some'",
      3,
      32,
      'use first, all, majority or none',
    ],
    [
      `${HEAD}service s { ordered f() [consistency = ordered]; }`,
      "'consistency' applies to query methods only",
      3,
      26,
      undefined,
    ],
    [
      `${HEAD}service s { oneway ordered f() -> f64; }`,
      "one-way method 'f' cannot return a value",
      3,
      28,
      'remove the `->` type or the one-way reply mode',
    ],
    [
      `${HEAD}service s { ordered f(a?: f64, b: f64); }`,
      "required parameter 'b' follows an optional one",
      3,
      32,
      'arguments are positional; move it earlier',
    ],
    [
      `${HEAD}service s { ordered f() throws Nope; }`,
      "'Nope' is not a declared error",
      3,
      32,
      'declare it with `error Name { ... }`',
    ],
    [`${HEAD}struct A {}\nstruct A {}`, "'A' is declared twice", 4, 8, undefined],
    [`${HEAD}enum E { A = "a"; B = 2; }`, "enum 'E' mixes string and number values", 3, 23, undefined],
    [`${HEAD}union U = E;\nenum E { A = 1; }`, "union member 'E' must be a struct", 3, 11, undefined],
    [`${HEAD}struct A { m: map<i32, f64>; }`, 'map keys must be string', 3, 19, 'write `map<string, V>`'],
    [`${HEAD}struct A { s: 'x'; }`, "unexpected character '''", 3, 15, 'strings use double quotes'],
    [
      `${HEAD}thing X {}`,
      "expected a declaration, found 'thing'",
      3,
      1,
      'declarations are struct, enum, union, error or service',
    ],
    [`${HEAD}service s { query f(a: number); }`, "unknown type 'number'", 3, 24, "did you mean 'f64'?"],
  ];
  it.each(cases)('%j', (text, reason, line, column, hint) => {
    const e = parseError(text);
    expect({ reason: e.reason, line: e.line, column: e.column, hint: e.hint }).toStrictEqual({
      reason,
      line,
      column,
      hint,
    });
    expect(e.file).toBe('f.idl');
    expect(e.code).toBe('IDL_PARSE');
    expect(e.message).toBe(`f.idl:${line}:${column}: ${reason}${hint ? ` (hint: ${hint})` : ''}`);
  });
});
