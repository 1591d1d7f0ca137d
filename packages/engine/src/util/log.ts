import { createDebug, type Debugger } from 'obug';

/**
 * The engine's logs: one namespace per layer, off by default, on with the DEBUG environment
 * variable as for the `debug` package (`DEBUG=ferry:*`, `DEBUG=ferry:transport,ferry:session`).
 * Lines go to stderr with the namespace and the time since the namespace's last line. Each call
 * site logs one fact with its figures (`%o` objects), about once per round, connection or
 * event; only `ferry:postcopy` logs per page request.
 */
export const LOG_NAMESPACES = {
  /** Which page kernels loaded, and why the addon did not. */
  accel: 'ferry:accel',
  /** Connections: opened, accepted, closed and why, with bytes. */
  transport: 'ferry:transport',
  /** Every source and destination event except progress: phases, rounds, switchover, recovery, failure. */
  session: 'ferry:session',
  /** Each round sent: pages, zero pages, bytes, time, rate. */
  precopy: 'ferry:precopy',
  /** Each page request post-copy serves (one per guest fault on the destination): many in a busy post-copy. */
  postcopy: 'ferry:postcopy',
  /** A migration's start and end on either side, and what a failure left behind. */
  orchestrate: 'ferry:orchestrate',
} as const;

export type LogLayer = keyof typeof LOG_NAMESPACES;

const loggers = new Map<LogLayer, Debugger>();

/** The logger of a layer (one per namespace per process). Check `.enabled` before costly formatting. */
export function logger(layer: LogLayer): Debugger {
  let log = loggers.get(layer);
  if (!log) {
    log = createDebug(LOG_NAMESPACES[layer]);
    loggers.set(layer, log);
  }
  return log;
}
