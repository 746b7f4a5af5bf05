/**
 * Runs one replica process: options from flags, environment and config file; the transport
 * they name; a key or an explicit `insecure`; a clean leave on SIGTERM/SIGINT.
 */
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { IdlFile } from '../../idl/model.js';
import { createValidator } from '../../idl/validate.js';
import { type Receiver, startReceiver } from '../distrib/receiver.js';
import { JoinAbortedError, JoinError } from '../errors.js';
import type { Group } from '../group/group.js';
import { createLogger } from '../observe/logger.js';
import { Observer } from '../observe/observer.js';
import { type MetricsServer, metricsServer } from '../observe/server.js';
import { checkServiceModel } from '../rpc/decorators.js';
import { joinReplica } from '../rpc/join.js';
import type { Replica } from '../rpc/replica.js';
import { tcp } from '../transport/tcp.js';
import type { Transport } from '../transport/types.js';
import { udp } from '../transport/udp.js';
import { LAUNCH_HELP, type LaunchOptions, readLaunchOptions } from './config.js';
import { LaunchError } from './errors.js';
import { resolveSeeds } from './seeds.js';
import { JoinWitness } from './witness.js';

/** A running replica process. */
export interface RunningReplica<T extends object> {
  replica: Replica<T>;
  group: Group;
  transport: Transport;
  /** The replica's observer (logs, metrics, traces); none with log level `silent` and no metrics port. */
  observer?: Observer;
  /** The metrics server, with `metricsPort`. */
  metrics?: MetricsServer;
  /** The `troupe dist` receiver, with `receiveDir`. */
  receiver?: Receiver;
  /** Leaves the group cleanly and closes the transport, the metrics server and the receiver. */
  stop(): Promise<void>;
}

/** Options of {@link runReplica}: launch options, or where to read them. */
export interface RunReplicaOptions extends LaunchOptions {
  /** Read flags, `TROUPE_*` variables and the config file from here (default: this process's). */
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Leave the group and exit on SIGTERM/SIGINT (default true). */
  handleSignals?: boolean;
  /** Give up joining after this long (default: joinGroup's, 30 s). */
  joinTimeoutMs?: number;
}

function bindTransport(o: LaunchOptions): Promise<Transport> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 0;
  if (o.transport === 'tcp') return tcp({ host, port });
  if (o.transport === 'multicast') {
    return udp({
      host,
      port,
      mode: 'multicast',
      ...(o.multicastGroup !== undefined ? { multicastGroup: o.multicastGroup } : {}),
      ...(o.multicastPort !== undefined ? { multicastPort: o.multicastPort } : {}),
    });
  }
  return udp({ host, port });
}

/**
 * An AFDP receiver beside the replica: the transfer group has the replica group's name and key,
 * so `troupe dist <path> --to <group> --seeds <receive addresses> --key-file <the same key>`
 * pushes to every replica process of a fleet at once.
 */
async function startDistReceiver(
  o: LaunchOptions,
  dir: string,
  group: string,
  say: (event: string, fields: Record<string, unknown>, prose: string) => void,
): Promise<Receiver> {
  const receiver = startReceiver({
    dir,
    group,
    ...(o.key !== undefined ? { key: o.key } : {}),
    transport: await udp({
      host: o.host ?? '127.0.0.1',
      port: o.receivePort ?? 0,
      ...(o.receiveMulticast
        ? {
            mode: 'multicast' as const,
            multicastGroup: o.receiveMulticast.group,
            multicastPort: o.receiveMulticast.port,
            multicastInterface: o.host ?? '127.0.0.1',
          }
        : {}),
    }),
    onPlaced: (r) =>
      say(
        'received',
        { dir, ...r },
        `troupe: received ${r.written} files (${r.bytes} bytes) into ${dir}, ${r.held} already held`,
      ),
    onProblem: (line) => process.stderr.write(`troupe: dist receive: ${line}\n`),
  });
  say(
    'receiving',
    { address: receiver.address, dir, group },
    `troupe: receiving troupe dist pushes to '${group}' at ${receiver.address} into ${dir}`,
  );
  return receiver;
}

/** What `--help` prints in a process that calls {@link runReplica}. */
function runReplicaHelp(script = process.argv[1]): string {
  const name = script ? relative(process.cwd(), script) || script : '<launcher>';
  return `Usage: node ${name} [options]

Runs one replica of a service through runReplica, with troupe serve's options (--model and
--service are troupe serve's own: here the program chose both). A key is required (or
--insecure). Prints the member id, address and pid; leaves the group cleanly on SIGTERM or SIGINT.

${LAUNCH_HELP}`;
}

/**
 * Serves `instance` as a replica of its service with the generated `model`, configured by the
 * process's flags, `TROUPE_*` environment variables and config file (see `troupe serve --help`)
 * over which `options` win. Prints the member id, address and pid once joined, and every view;
 * on SIGTERM or SIGINT leaves the group cleanly and exits. With `--help` among the flags it
 * prints the options and exits the process (code 0) instead.
 *
 * @example
 * ```ts
 * import { runReplica } from 'troupe';
 * import { Kv } from './kv.js';
 * import { kvModel } from './generated/kv.model.js';
 * await runReplica(new Kv(), kvModel); // node replica.js --port 7001 --seeds ... --key-file k
 * ```
 * @throws {LaunchError} `KEY_REQUIRED` without a key or `insecure`, bad seeds, a bad option;
 * {@link RpcConfigError} when the decorators disagree with the model; whatever `joinReplica`
 * rejects with when the group cannot be joined.
 */
export async function runReplica<T extends object>(
  instance: T,
  model: IdlFile,
  options: RunReplicaOptions = {},
): Promise<RunningReplica<T>> {
  const { argv, env, handleSignals, joinTimeoutMs, ...given } = options;
  const read = readLaunchOptions(argv ?? process.argv.slice(2), env);
  if (read.help) {
    // `node replica.js --help`: a launcher takes troupe serve's options, so it answers as serve
    // does (before, it went on and failed with KEY_REQUIRED, or joined a group).
    process.stdout.write(`${runReplicaHelp()}\n`);
    process.exit(0);
  }
  const o: LaunchOptions = { ...read.options, ...given };
  const meta = checkServiceModel(instance.constructor as abstract new () => unknown, model);
  if (o.key === undefined && !o.insecure) {
    throw new LaunchError(
      'KEY_REQUIRED',
      `a replica needs the group key: --key-file PATH or TROUPE_KEY (make one with 'troupe keygen'), or --insecure to run without one`,
    );
  }
  const seeds = await resolveSeeds(o.seeds ?? []);
  const groupName = o.group ?? meta.name;
  const membershipFile = o.dataDir !== undefined ? dataDirFile(o.dataDir, groupName) : undefined;
  const say = (event: string, fields: Record<string, unknown>, prose: string): void => {
    if (o.json) process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
    else process.stderr.write(`${prose}\n`);
  };
  // Logs are on in a replica process (the library alone is silent); metrics need the observer too.
  const logLevel = o.logLevel ?? 'info';
  const observer =
    logLevel === 'silent' && o.metricsPort === undefined
      ? undefined
      : new Observer({ logger: createLogger({ level: logLevel, base: { group: groupName } }) });
  // Opened before binding the group's port, so a taken metrics port fails before joining.
  const metrics =
    observer && o.metricsPort !== undefined
      ? await metricsServer({
          observer,
          port: o.metricsPort,
          ...(o.metricsHost !== undefined ? { host: o.metricsHost } : {}),
          peers: o.key !== undefined ? { key: o.key } : {},
        })
      : undefined;
  let transport: Transport;
  let receiver: Receiver | undefined;
  try {
    // Bound before joining too: a taken receive port fails the start, not a push later.
    receiver =
      o.receiveDir !== undefined ? await startDistReceiver(o, o.receiveDir, groupName, say) : undefined;
    transport = await bindTransport(o);
  } catch (e) {
    await receiver?.close();
    await metrics?.close();
    throw e;
  }
  // Signals are handled from here, before the join: it may wait long (a majority of the seeds,
  // then the state), and a replica the signal's default action killed there said nothing and
  // left nothing, so the others had to suspect it and remove it as failed if it was in a view
  // already. A signal during the join calls the join off (which leaves such a view); later, the
  // replica leaves the group. A second signal means "now": skip the leave.
  let signalled: NodeJS.Signals | undefined;
  let signals = 0;
  let onStop: ((sig: NodeJS.Signals) => void) | undefined;
  const joinAbort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    signalled = sig;
    if (onStop) onStop(sig);
    else joinAbort.abort();
  };
  const handling = handleSignals !== false;
  if (handling) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  // Misconfigured peers are reported the moment one is heard, and summed up if the join fails.
  const witness = new JoinWitness(groupName, o.key, (address, why) =>
    process.stderr.write(`troupe: warning: ${address} ${why}\n`),
  );
  let joined: { replica: Replica<T>; group: Group };
  try {
    joined = await joinReplica(instance, groupName, {
      seeds,
      transport: witness.watch(transport),
      ...(joinTimeoutMs !== undefined ? { joinTimeoutMs } : {}),
      validate: createValidator(model, meta.name),
      ...(handling ? { signal: joinAbort.signal } : {}),
      ...(observer ? { observe: observer } : {}),
      ...(membershipFile !== undefined ? { membershipFile } : {}),
      // `insecure` is the library's explicit no-key switch once keys are required (issue 11);
      // typed loosely so this compiles before and after that option exists.
      ...(o.key !== undefined ? { key: o.key } : ({ insecure: true } as object)),
    });
  } catch (e) {
    await transport.close();
    await metrics?.close();
    await receiver?.close();
    if (e instanceof JoinAbortedError && signalled) {
      if (e.left) say('left', { self: e.member }, `troupe: ${e.member} left '${groupName}' on ${signalled}`);
      else
        say(
          'stopped',
          { signal: signalled, group: groupName },
          `troupe: stopped on ${signalled} before joining '${groupName}'`,
        );
      process.exit(0);
    }
    if (handling) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    if (e instanceof JoinError) {
      throw new LaunchError('JOIN_FAILED', `${e.message}: ${witness.explain(seeds, transport.address)}`, {
        cause: e,
      });
    }
    throw e;
  }
  // It explains a failed join; a running replica's packets are the stack's to judge.
  witness.stop();
  const { replica, group } = joined;
  const view = group.view;
  say(
    'joined',
    // uptimeMs: process start to first view, what a deployment waits for.
    {
      self: group.self,
      address: transport.address,
      pid: process.pid,
      group: groupName,
      view,
      uptimeMs: Math.round(performance.now()),
    },
    `troupe: replica ${group.self} of '${groupName}' at ${transport.address} (${o.transport ?? 'udp'}), pid ${process.pid}; view ${view?.id} [${view?.members.join(' ')}]`,
  );
  if (metrics)
    say(
      'metrics',
      { url: metrics.url },
      `troupe: metrics at ${metrics.url}/metrics, live page at ${metrics.url}/`,
    );
  group.on('view', (v) =>
    say(
      'view',
      { id: v.view.id, members: v.view.members, failed: v.failed, left: v.left },
      `troupe: view ${v.view.id} [${v.view.members.join(' ')}]`,
    ),
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await group.leave();
      await transport.close();
      await metrics?.close();
      await receiver?.close();
    })();
    return stopping;
  };
  // A member that could not write its membership file stopped for good, before acknowledging the
  // view it could not remember (Group's `failStop`): the process ends with an error, so that a
  // supervisor notices and the operator reads why.
  group.on('partitioned', (p) => {
    if (p.code !== 'MEMBERSHIP_FILE_BAD') return;
    say(
      'failed',
      { self: group.self, code: p.code, reason: p.reason },
      `troupe: ${group.self} stopped: ${p.reason}`,
    );
    if (handling) void stop().finally(() => process.exit(1));
  });
  if (handling) {
    onStop = (sig) =>
      void stop().then(
        () => {
          say('left', { self: group.self }, `troupe: ${group.self} left '${groupName}' on ${sig}`);
          process.exit(0);
        },
        (e: unknown) => {
          process.stderr.write(`troupe: leaving failed: ${(e as Error).message}\n`);
          process.exit(1);
        },
      );
    // The signal came as the join completed, too late to call it off: leave now.
    if (signalled) onStop(signalled);
  }
  return {
    replica,
    group,
    transport,
    ...(observer ? { observer } : {}),
    ...(metrics ? { metrics } : {}),
    ...(receiver ? { receiver } : {}),
    stop,
  };
}

/** The membership file of group `groupName` in `dir`, which is created (owner only) if missing. */
function dataDirFile(dir: string, groupName: string): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new LaunchError('CONFIG', `--data-dir: cannot create '${dir}': ${(e as Error).message}`);
  }
  // The name is the group's as given; characters a file name cannot hold are replaced.
  return join(dir, `membership-${groupName.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}
