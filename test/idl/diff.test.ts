import { describe, expect, it } from 'vitest';
import { diffIdl, formatChanges, hasBreaking } from '../../idl/diff.js';
import { parseIdl } from '../../idl/parser.js';

const BASE = `package bank;
version 1;
struct Report { total: f64; count?: int; }
enum Cur { EUR = "eur"; USD = "usd"; }
union Shape = Report | Other;
struct Other { x: f64; }
error Broke { need: f64; }
service bank {
  ordered deposit(account: string, amount: f64, memo?: string = "x") -> f64 throws Broke [timeout = 10];
  query balance(account: string) -> f64;
  handler("stmts") statement(account: string) -> Report;
  ordered audit() -> Report [reply = all];
}
`;

/** Applies a textual edit to BASE and returns the single change it causes. */
function changesAfter(from: string, to: string) {
  expect(BASE).toContain(from);
  return diffIdl(parseIdl(BASE), parseIdl(BASE.replace(from, to))).map((c) => [c.level, c.rule, c.path]);
}

describe('diffIdl', () => {
  it('reports nothing for identical contracts and ignores docs', () => {
    expect(diffIdl(parseIdl(BASE), parseIdl(`/// Documented.\n${BASE}`))).toStrictEqual([]);
  });

  it.each([
    [
      'service bank {',
      'service other {',
      [
        ['breaking', 'SERVICE_REMOVED', 'bank'],
        ['compatible', 'SERVICE_ADDED', 'other'],
      ],
    ],
    ['  query balance(account: string) -> f64;\n', '', [['breaking', 'METHOD_REMOVED', 'bank.balance']]],
    ['service bank {\n', 'service bank {\n  query ping();\n', [['compatible', 'METHOD_ADDED', 'bank.ping']]],
    [
      'balance(account: string)',
      'balance(account: bytes)',
      [['breaking', 'PARAM_TYPE_CHANGED', 'bank.balance(account)']],
    ],
    [
      'balance(account: string)',
      'balance(id: string)',
      [['compatible', 'PARAM_RENAMED', 'bank.balance(id)']],
    ],
    [
      'balance(account: string)',
      'balance(account: string, at: int)',
      [['breaking', 'PARAM_ADDED_REQUIRED', 'bank.balance(at)']],
    ],
    [
      'balance(account: string)',
      'balance(account: string, at?: int)',
      [['compatible', 'PARAM_ADDED_OPTIONAL', 'bank.balance(at)']],
    ],
    ['statement(account: string)', 'statement()', [['breaking', 'PARAM_REMOVED', 'bank.statement(account)']]],
    ['memo?: string = "x"', 'memo: string', [['breaking', 'PARAM_MADE_REQUIRED', 'bank.deposit(memo)']]],
    ['amount: f64,', 'amount?: f64,', [['compatible', 'PARAM_MADE_OPTIONAL', 'bank.deposit(amount)']]],
    [
      'memo?: string = "x"',
      'memo?: string = "y"',
      [['breaking', 'PARAM_DEFAULT_CHANGED', 'bank.deposit(memo)']],
    ],
    [
      'balance(account: string) -> f64',
      'balance(account: string) -> i32',
      [['breaking', 'RETURN_TYPE_CHANGED', 'bank.balance']],
    ],
    ['query balance', 'ordered balance', [['breaking', 'METHOD_KIND_CHANGED', 'bank.balance']]],
    ['handler("stmts")', 'handler("other")', [['breaking', 'METHOD_LOCK_CHANGED', 'bank.statement']]],
    [
      '-> f64;\n  handler',
      '-> f64 [consistency = ordered];\n  handler',
      [['breaking', 'METHOD_ORDERING_CHANGED', 'bank.balance']],
    ],
    ['[reply = all]', '[reply = majority]', [['breaking', 'METHOD_REPLY_CHANGED', 'bank.audit']]],
    ['[timeout = 10]', '[timeout = 20]', [['compatible', 'METHOD_OPTIONS_CHANGED', 'bank.deposit']]],
    [
      '-> Report;\n  ordered',
      '-> Report throws Broke;\n  ordered',
      [['breaking', 'THROWS_ADDED', 'bank.statement']],
    ],
    [' throws Broke [', ' [', [['compatible', 'THROWS_REMOVED', 'bank.deposit']]],
    ['USD = "usd"; }', '}', [['breaking', 'ENUM_VALUE_REMOVED', 'Cur.USD']]],
    ['USD = "usd"; }', 'USD = "us"; }', [['breaking', 'ENUM_VALUE_CHANGED', 'Cur.USD']]],
    ['USD = "usd"; }', 'USD = "usd"; GBP = "gbp"; }', [['compatible', 'ENUM_VALUE_ADDED', 'Cur.GBP']]],
    ['Report | Other;', 'Report;', [['breaking', 'UNION_MEMBER_REMOVED', 'Shape']]],
    [
      'Report | Other;',
      'Report | Other | Other2;\nstruct Other2 {}',
      [
        ['compatible', 'TYPE_ADDED', 'Other2'],
        ['compatible', 'UNION_MEMBER_ADDED', 'Shape'],
      ],
    ],
    ['count?: int; }', '}', [['breaking', 'FIELD_REMOVED', 'Report.count']]],
    ['count?: int; }', 'count?: f64; }', [['breaking', 'FIELD_TYPE_CHANGED', 'Report.count']]],
    ['count?: int; }', 'count: int; }', [['breaking', 'FIELD_OPTIONALITY_CHANGED', 'Report.count']]],
    [
      'count?: int; }',
      'count?: int; note?: string; }',
      [['compatible', 'FIELD_ADDED_OPTIONAL', 'Report.note']],
    ],
    ['count?: int; }', 'count?: int; note: string; }', [['breaking', 'FIELD_ADDED_REQUIRED', 'Report.note']]],
    [
      'enum Cur { EUR = "eur"; USD = "usd"; }',
      'struct Cur { x: f64; }',
      [['breaking', 'TYPE_KIND_CHANGED', 'Cur']],
    ],
    [
      'error Broke { need: f64; }',
      'error Broke { need: f64; }\nerror Gone {}',
      [['compatible', 'ERROR_ADDED', 'Gone']],
    ],
    ['need: f64;', 'need: string;', [['breaking', 'ERROR_FIELD_TYPE_CHANGED', 'Broke.need']]],
    ['package bank;', 'package bank2;', [['breaking', 'PACKAGE_CHANGED', 'bank']]],
    ['version 1;', 'version 2;', [['compatible', 'VERSION_CHANGED', 'bank']]],
  ])('%j -> %j', (from, to, expected) => {
    expect(changesAfter(from, to)).toStrictEqual(expected);
  });

  it('reports removed types and errors', () => {
    const old = parseIdl(`${BASE}struct Unused {}\nerror Old {}\n`);
    const changes = diffIdl(old, parseIdl(BASE)).map((c) => [c.level, c.rule, c.path]);
    expect(changes).toStrictEqual([
      ['compatible', 'ERROR_REMOVED', 'Old'],
      ['breaking', 'TYPE_REMOVED', 'Unused'],
    ]);
  });

  it('summarises and formats', () => {
    const changes = diffIdl(
      parseIdl(BASE),
      parseIdl(BASE.replace('version 1;', 'version 2;').replace('amount: f64,', 'amount: i32,')),
    );
    expect(hasBreaking(changes)).toBe(true);
    expect(formatChanges(changes)).toBe(
      'compatible  VERSION_CHANGED  bank: version changed from 1 to 2\n' +
        'BREAKING    PARAM_TYPE_CHANGED  bank.deposit(amount): type changed from f64 to i32',
    );
    expect(hasBreaking(changes.filter((c) => c.level === 'compatible'))).toBe(false);
  });
});
