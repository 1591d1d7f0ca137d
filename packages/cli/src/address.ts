import { UsageError } from './usage-error.ts';

/** `host:port`, `[v6]:port` or `port` (loopback) as host and port. */
export function parseAddress(text: string, option: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(`${option} must be host:port (port 1..65535); got '${text}'`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** A whole number within bounds, from an option's text. */
export function parseInteger(text: string, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${option} must be an integer in ${min}..${max}; got '${text}'`);
  return n;
}

/** A number of bytes per second, with an optional k/M/G suffix (powers of 1000, as link rates are given). */
export function parseRate(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([kMG]?)$/.exec(text);
  if (!m) throw new UsageError(`${option} must be bytes per second, e.g. 125000000 or 125M; got '${text}'`);
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, M: 1e6, G: 1e9 }[m[2] as '' | 'k' | 'M' | 'G']);
}
