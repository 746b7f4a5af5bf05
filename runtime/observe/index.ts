/** Observability: metrics, logs, traces, diagnostics channels and spans. See docs/observability.md. */
export {
  type CommandIO,
  OBSERVE_COMMANDS,
  statusCommand,
  statusLines,
  type TimelineEntry,
  timeline,
  traceCommand,
} from './cli.js';
export type { DivergenceOptions, DivergenceRecord } from './divergence.js';
export { CHANNELS, OBSERVE_SERVICE, type ObserveSink, type RequestStep, type TroupeEvent } from './events.js';
export { BucketHistogram, HistogramSeries } from './histogram.js';
export {
  createLogger,
  LEVELS,
  type LevelName,
  type Logger,
  type LoggerOptions,
  silentLogger,
} from './logger.js';
export { Metrics, STAT_METRICS, statMetricName } from './metrics.js';
export {
  type MemberStatus,
  Observer,
  type ObserverOptions,
  type ViewRecord,
} from './observer.js';
export type { LiveSnapshot, PeerPolling, SeriesPoint } from './page.js';
export { type MemberAnswer, type QueryOptions, queryGroup } from './query.js';
export { type MetricsServer, type MetricsServerOptions, metricsServer } from './server.js';
export type { RequestTrace, TraceStep } from './traces.js';
