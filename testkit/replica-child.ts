/**
 * The child side of a replica process driven by a parent (the demo, the RPC multi-process tests,
 * the benchmarks). It binds a UDP socket (port 0 by default: the kernel picks a free port, so there
 * is no bind-and-release race), prints `{"event":"ready","address","pid"}` and serves JSON commands
 * on stdin, one per line:
 *
 *   {cmd:'join', seeds, layers?, stack?, health?, membershipFile?}
 *                                 -> {event:'joined', self, view: {id, members, addresses}}; then every view as
 *                                    {event:'view', id, members, failed, left, self, history, at}, and
 *                                    {event:'partitioned', viewId, reason, self} when this
 *                                    member lost its majority (it then rejoins as a new member,
 *                                    so a later view's `self` differs), and
 *                                    {event:'lagging', member, lagMs, lagBytes, removing}
 *   {cmd:'state'}                 -> {event:'state', self, view, history, holders, stats, transport, app}:
 *                                    this replica's own state, read locally (no group call);
 *                                    `transport` is its transport's counters
 *   {cmd:'outcome', id}           -> {event:'outcome', id, status, value?, error?}: its outcome table
 *   {cmd:'leave'}                 -> leaves the group cleanly, {event:'left'}, and exits
 *
 * The process exits when its stdin closes, so it never outlives the process that started it.
 */

import type { RequestValidator } from '../idl/validate.js';
import type { Group, JoinOptions } from '../runtime/group/group.js';
import { joinReplica } from '../runtime/rpc/join.js';
import type { Replica } from '../runtime/rpc/replica.js';
import { tcp } from '../runtime/transport/tcp.js';
import type { Transport } from '../runtime/transport/types.js';
import { type UdpOptions, udp } from '../runtime/transport/udp.js';
import type { AuthKey } from '../runtime/wire/auth.js';
import { emit, onCommands } from './processes.js';

/**
 * A replica process's configuration for the testkit's replica child: the service instance,
 * its group, validator, transport and what it reports to the parent test.
 */
export interface ReplicaChildOptions<T extends object> {
  instance: T;
  /** The group's name. */
  group: string;
  validate: RequestValidator;
  /** Handler locks whose holders `state` reports. */
  locks?: readonly string[];
  /** The application's state as `state` reports it (plain JSON). */
  app: () => unknown;
  host?: string;
  port?: number;
  /** More options of the UDP transport, e.g. `{ mode: 'multicast', multicastGroup }`. */
  udp?: Omit<UdpOptions, 'host' | 'port'>;
  /** Run over the TCP transport instead of UDP (`udp` is then ignored). */
  tcp?: boolean;
  /** The group key; without one the group runs unauthenticated (`insecure`). */
  key?: AuthKey;
  /** With `key`: encrypt packets. */
  encrypt?: boolean;
}

/** A replica joined to its group, with the transport it runs on. */
export interface ReplicaMember<T extends object> {
  replica: Replica<T>;
  group: Group;
  transport: Transport;
}

/** The replica's transport (UDP unless `tcp`), as its options say. */
function bind(o: ReplicaChildOptions<object>): Promise<Transport> {
  const at = { host: o.host ?? '127.0.0.1', port: o.port ?? 0 };
  return o.tcp ? tcp(at) : udp({ ...o.udp, ...at });
}

/** Binds the transport and joins `seeds` at once (standalone use, no parent). */
export async function startReplica<T extends object>(
  o: ReplicaChildOptions<T>,
  seeds: string[],
  layers?: Record<string, Record<string, unknown>>,
): Promise<ReplicaMember<T>> {
  const transport = await bind(o);
  return join(o, transport, seeds, layers);
}

async function join<T extends object>(
  o: ReplicaChildOptions<T>,
  transport: Transport,
  seeds: string[],
  layers?: Record<string, Record<string, unknown>>,
  more: Pick<JoinOptions, 'stack' | 'health' | 'membershipFile'> = {},
): Promise<ReplicaMember<T>> {
  const { replica, group } = await joinReplica(o.instance, o.group, {
    seeds,
    transport,
    layers,
    validate: o.validate,
    ...more,
    // No key: say so explicitly, as the library requires (issue 11).
    ...(o.key !== undefined ? { key: o.key } : { insecure: true }),
    ...(o.encrypt !== undefined ? { encrypt: o.encrypt } : {}),
  });
  return { replica, group, transport };
}

/** Serves the command protocol above until stdin closes. */
export async function serveReplicaChild<T extends object>(o: ReplicaChildOptions<T>): Promise<void> {
  const transport = await bind(o);
  let member: ReplicaMember<T> | undefined;
  const viewOf = (g: Group) =>
    g.view ? { id: g.view.id, members: g.view.members, addresses: g.view.addresses } : undefined;
  onCommands(async (cmd) => {
    if (cmd.cmd === 'join') {
      const more = {
        stack: cmd.stack,
        health: cmd.health,
        ...(typeof cmd.membershipFile === 'string' ? { membershipFile: cmd.membershipFile } : {}),
      } as Pick<JoinOptions, 'stack' | 'health' | 'membershipFile'>;
      member = await join(o, transport, cmd.seeds as string[], cmd.layers as never, more);
      const { group } = member;
      group.on('view', (v) =>
        emit('view', {
          id: v.view.id,
          members: v.view.members,
          failed: v.failed,
          left: v.left,
          self: group.self,
          // The history this member's state belongs to (none yet for a joiner or a founder).
          history: group.history,
          at: Date.now(),
        }),
      );
      group.on('partitioned', (p) => emit('partitioned', { ...p, self: group.self }));
      group.on('lagging', (l) => emit('lagging', { ...l, at: Date.now() }));
      emit('joined', { self: group.self, view: viewOf(group) });
    } else if (cmd.cmd === 'state') {
      emit('state', {
        self: member?.group.self,
        view: member && viewOf(member.group),
        history: member?.group.history,
        holders: Object.fromEntries((o.locks ?? []).map((l) => [l, member?.replica.holder(l)])),
        stats: member?.replica.stats(),
        // The member core's and layers' counters (gms: joins, refusals, flushes...), for a
        // harness explaining why a member is not where it should be.
        group: member?.group.stats(),
        transport: transport.stats(),
        app: o.app(),
      });
    } else if (cmd.cmd === 'outcome') {
      emit('outcome', { id: cmd.id, ...member?.replica.outcome(String(cmd.id)) });
    } else if (cmd.cmd === 'leave') {
      await member?.group.leave();
      emit('left');
      process.exit(0);
    }
  });
  emit('ready', { address: transport.address, pid: process.pid });
}
