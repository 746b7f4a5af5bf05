/**
 * `troupe serve` and `troupe keygen`. `serve` imports the user's compiled module, finds its
 * exported `@Service` class and the generated model next to it, and runs {@link runReplica}.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IdlFile } from '../../idl/model.js';
import { TroupeError } from '../errors.js';
import { getServiceMeta } from '../rpc/decorators.js';
import { LAUNCH_HELP, readLaunchOptions } from './config.js';
import { LaunchError } from './errors.js';
import { writeKeyFile } from './key.js';
import { runReplica } from './run.js';

const SERVE_HELP = `Usage: troupe serve <module.js> [options]

Runs one replica of the @Service class <module.js> exports (compiled JavaScript), made with
new Class() (no arguments: a constructor that needs some is refused; write a launcher with
runReplica instead), with the model 'troupe gen' generated for it. A key is required (or
--insecure). Prints the member id, address and pid; leaves the group cleanly on SIGTERM or
SIGINT.

  troupe keygen troupe.key
  troupe serve ./dist/kv.js --port 7001 --seeds localhost:7001,localhost:7002,localhost:7003 --key-file troupe.key

${LAUNCH_HELP}`;

type Ctor = new () => object;

const camel = (s: string) =>
  s.replace(/[._]+(.)/g, (_, c: string) => c.toUpperCase()).replace(/^./, (c) => c.toLowerCase());

async function importFile(file: string, what: string): Promise<Record<string, unknown>> {
  if (!fs.existsSync(file)) throw new LaunchError('SERVICE_NOT_FOUND', `${what} '${file}' does not exist`);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    // TypeScript leaves decorators as '@' syntax for target ESNext (tsc --init's default), and
    // Node does not run that: name the file and the fix, not only "Invalid or unexpected token".
    const decorators = /^\s*@\w+\(/m.test(fs.readFileSync(file, 'utf8'));
    throw new LaunchError(
      'SERVICE_LOAD',
      `${what} '${file}' does not load: ${e.message}${
        decorators
          ? ' (it holds @decorators as written: compile with a "target" Node runs, e.g. "ES2023", not "ESNext")'
          : ''
      }`,
      { cause: e },
    );
  }
}

function findService(mod: Record<string, unknown>, file: string, wanted: string | undefined): Ctor {
  const services = Object.entries(mod).filter(
    ([, v]) => typeof v === 'function' && getServiceMeta(v as Ctor) !== undefined,
  ) as [string, Ctor][];
  const names = services.map(([k, v]) => `${k} ('${getServiceMeta(v)!.name}')`).join(', ');
  if (wanted !== undefined) {
    const hit = services.find(([k, v]) => k === wanted || getServiceMeta(v)!.name === wanted);
    if (!hit)
      throw new LaunchError(
        'SERVICE_NOT_FOUND',
        `'${file}' exports no @Service '${wanted}' (it exports: ${names || 'none'})`,
      );
    return hit[1];
  }
  if (services.length === 1) return services[0]![1];
  if (services.length === 0) {
    throw new LaunchError(
      'SERVICE_NOT_FOUND',
      `'${file}' exports no @Service class (export the class, and compile it: troupe serve runs JavaScript)`,
    );
  }
  throw new LaunchError(
    'SERVICE_NOT_FOUND',
    `'${file}' exports several services (${names}): choose one with --service`,
  );
}

async function findModel(
  modelFile: string | undefined,
  moduleFile: string,
  service: string,
): Promise<IdlFile> {
  const dir = path.dirname(moduleFile);
  const candidates = modelFile
    ? [path.resolve(modelFile)]
    : [path.join(dir, 'generated', `${service}.model.js`), path.join(dir, `${service}.model.js`)];
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) {
    throw new LaunchError(
      'MODEL_NOT_FOUND',
      `no generated model of service '${service}' at ${candidates.join(' or ')}: run 'troupe gen', compile, or pass --model PATH`,
    );
  }
  const mod = await importFile(file, 'model');
  const model = mod[`${camel(service)}Model`] as IdlFile | undefined;
  if (!model || typeof model !== 'object') {
    throw new LaunchError(
      'MODEL_NOT_FOUND',
      `'${file}' does not export ${camel(service)}Model (is it a generated model?)`,
    );
  }
  return model;
}

async function serve(argv: string[]): Promise<number> {
  const { options, positional, help } = readLaunchOptions(argv);
  if (help) {
    console.log(SERVE_HELP);
    return 0;
  }
  if (positional.length !== 1)
    throw new LaunchError('CONFIG', 'troupe serve needs one module: troupe serve ./dist/kv.js');
  const file = path.resolve(positional[0]!);
  if (/\.[cm]?tsx?$/.test(file)) {
    throw new LaunchError(
      'CONFIG',
      `'${positional[0]}' is TypeScript: compile it (tsc) and serve the .js file`,
    );
  }
  const Service = findService(await importFile(file, 'module'), positional[0]!, options.service);
  // `new Service()` gives a required constructor parameter `undefined`, and the replica then
  // served from state nobody meant (a counter started at undefined answered NaN).
  if (Service.length > 0) {
    const service = getServiceMeta(Service)!.name;
    throw new LaunchError(
      'CONFIG',
      `${Service.name}'s constructor takes ${Service.length} parameter(s), and troupe serve makes it with none (new ${Service.name}()): give them defaults, or start it from a launcher of your own: await runReplica(new ${Service.name}(...), ${camel(service)}Model)`,
    );
  }
  const model = await findModel(options.model, file, getServiceMeta(Service)!.name);
  // Options were read above; runReplica must not read the argv again (it holds the module path).
  await runReplica(new Service(), model, { ...options, argv: [] });
  return 0;
}

const KEYGEN_HELP = `Usage: troupe keygen [PATH]

Writes a fresh 32-byte group key, as hex, to PATH (default troupe.key), readable by its owner
only; never overwrites a file. Give the same file to every replica (troupe serve --key-file) and
client (readKeyFile).`;

function keygen(argv: string[]): number {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    console.log(KEYGEN_HELP);
    return 0;
  }
  if (argv.length > 1 || argv[0]?.startsWith('-'))
    throw new LaunchError('CONFIG', 'usage: troupe keygen [PATH]');
  const file = argv[0] ?? 'troupe.key';
  writeKeyFile(file);
  console.error(`troupe: wrote a new group key to ${file} (mode 0600); give it to every replica and client`);
  return 0;
}

/** Runs `troupe serve ...` or `troupe keygen ...`; resolves to the exit code (2: configuration, 1: could not join). */
export async function launcherMain(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    return cmd === 'keygen' ? keygen(rest) : await serve(rest);
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    process.stderr.write(`troupe: error: ${message}\n`);
    return e instanceof LaunchError ? 2 : e instanceof TroupeError ? 3 : 1;
  }
}
