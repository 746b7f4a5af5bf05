/** Observability: metrics, logs, traces, diagnostics channels and spans. See docs/observability.md. */
export { CHANNELS, OBSERVE_SERVICE, type ObserveSink, type RequestStep, type TroupeEvent } from './events.js';
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
  type DivergenceRecord,
  type MemberStatus,
  Observer,
  type ObserverOptions,
  type ViewRecord,
} from './observer.js';
export { type MetricsServer, type MetricsServerOptions, metricsServer } from './server.js';
export type { RequestTrace, TraceStep } from './traces.js';
