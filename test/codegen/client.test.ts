import { describe, expect, it } from 'vitest';
import { BankClient } from '../../examples/bank/generated/bank.client.js';
import { bankModel, validateBankRequest } from '../../examples/bank/generated/bank.model.js';
import { BadRequestError } from '../../runtime/errors.js';
import type { CallOptions, Invoker } from '../../runtime/rpc/api.js';

/** Records what the stub asks of the client runtime. */
function recorder(result: unknown) {
  const calls: Array<[string, string, unknown[], CallOptions | undefined]> = [];
  const invoker: Invoker = {
    invoke: async (service, method, args, opts) => {
      calls.push([service, method, args, opts]);
      return result;
    },
  };
  return { calls, invoker };
}

describe('generated bank stub', () => {
  it('calls the service with positional arguments and the declared reply mode', async () => {
    const { calls, invoker } = recorder(42);
    const bank = BankClient.connect(invoker);
    expect(await bank.deposit('alice', 10, { timeoutMs: 50 })).toBe(42);
    await bank.audit();
    await bank.balance('bob');
    expect(calls).toStrictEqual([
      ['bank', 'deposit', ['alice', 10], { timeoutMs: 50, reply: 'first' }],
      ['bank', 'audit', [], { reply: 'all' }],
      ['bank', 'balance', ['bob'], { reply: 'first' }],
    ]);
  });

  it('offers all and majority views', async () => {
    const { calls, invoker } = recorder({ requestId: 'r', viewId: 1, entries: [] });
    const bank = new BankClient(invoker);
    await bank.all.withdraw('alice', 5);
    await bank.majority.statement('alice');
    expect(calls.map((c) => [c[1], c[3]?.reply])).toStrictEqual([
      ['withdraw', 'all'],
      ['statement', 'majority'],
    ]);
    expect(BankClient.service).toBe('bank');
  });

  it('ships a model whose validator stops ill-typed requests before the method', () => {
    expect(bankModel.services[0]!.methods.map((m) => m.name)).toStrictEqual([
      'deposit',
      'withdraw',
      'audit',
      'balance',
      'statement',
    ]);
    expect(validateBankRequest('deposit', ['alice', 10])).toStrictEqual(['alice', 10]);
    const e = (() => {
      try {
        validateBankRequest('deposit', ['alice', 'ten']);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(BadRequestError);
    expect((e as BadRequestError).param).toBe('amount');
  });
});
