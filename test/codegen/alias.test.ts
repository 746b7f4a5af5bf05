/**
 * Decorators imported under another name. Codegen read decorators by the name written at the
 * use site, so `import { Ordered as Ord }` made `@Ord() inc()` invisible to it: `troupe gen`
 * wrote a model without `inc` and exited 0, and `troupe serve` then refused the class ("inc is
 * decorated but not in the model ... Run 'troupe gen' again") however often gen ran again.
 * Now a decorator is known by the name it was declared with, as the runtime knows it by
 * identity.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { transform } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { extractServices } from '../../codegen/extract.js';
import { checkServiceModel, getServiceMeta } from '../../runtime/rpc/decorators.js';

const decorators = path.resolve(import.meta.dirname, '../../runtime/rpc/decorators.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-alias-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SOURCE = `
import { Handler as Locked, Ordered as Ord, Query, Service as Svc } from ${JSON.stringify(decorators)};
import * as troupe from ${JSON.stringify(decorators)};

@Svc('alias')
export class Alias {
  private n = 0;
  @Ord() inc(by: number): number { return (this.n += by); }
  @troupe.Query() get(): number { return this.n; }
  @Query() peek(): number { return this.n; }
  @Locked('report') report(): string { return String(this.n); }
  @troupe.Ordered({ reply: 'all' }) size(): number { return this.n; }
}
`;

const EXPECTED = [
  ['inc', 'ordered'],
  ['get', 'query'],
  ['peek', 'query'],
  ['report', 'handler'],
  ['size', 'ordered'],
];

describe('aliased decorators', () => {
  const file = path.join(tmp, 'alias.ts');
  fs.writeFileSync(file, SOURCE);
  const [model] = extractServices({ files: [file], root: tmp });

  it('codegen finds the service and every method, whatever name they were imported as', () => {
    expect(model?.services[0]?.name).toBe('alias');
    expect(model!.services[0]!.methods.map((m) => [m.name, m.kind])).toStrictEqual(EXPECTED);
    const methods = model!.services[0]!.methods;
    expect(methods.find((m) => m.name === 'report')!.lock).toBe('report');
    expect(methods.find((m) => m.name === 'size')!.options.reply).toBe('all');
  });

  it('the runtime records the same methods and accepts the model', async () => {
    const { code } = await transform(SOURCE, { loader: 'ts', format: 'esm', target: 'es2022' });
    const out = path.join(tmp, 'alias-tc39.ts');
    fs.writeFileSync(out, code);
    const mod = (await import(out)) as Record<string, abstract new () => unknown>;
    expect(getServiceMeta(mod.Alias!)!.methods.map((m) => [m.name, m.kind])).toStrictEqual(EXPECTED);
    expect(checkServiceModel(mod.Alias!, model!).name).toBe('alias');
  });
});
