/**
 * `troupe/testkit`: real replica processes for tests, demos and benchmarks. A parent starts
 * children with {@link ProcessHarness}, talks to them in JSON lines, SIGKILLs them for
 * fail-over tests and never leaves one behind; a child serves a replica with
 * {@link serveReplicaChild}.
 */

export {
  checkNetnsTools,
  createLan,
  createNamespace,
  Lan,
  type LanHost,
  type LanOptions,
  Namespace,
  NetnsUnavailable,
} from '../testkit/netns.js';
export { freePorts } from '../testkit/ports.js';
export {
  Child,
  type ChildCommand,
  type ChildEvent,
  type ChildExit,
  DEFAULT_WAIT_MS,
  type EventMatch,
  emit,
  onCommands,
  ProcessHarness,
  type StartOptions,
} from '../testkit/processes.js';
export {
  type ReplicaChildOptions,
  type ReplicaMember,
  serveReplicaChild,
  startReplica,
} from '../testkit/replica-child.js';
