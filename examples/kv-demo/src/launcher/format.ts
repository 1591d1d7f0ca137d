/** Number formats for the demo's output. Sizes in MiB, rates in MB/s (10^6 bytes per second). */

export function fmtMs(ms: number): string {
  if (Number.isInteger(ms) && ms < 10_000) return `${ms} ms`;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function fmtRate(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(0)} MB/s`;
}
