import type { CompressionMode } from '@ferry/engine';
import { parseArgs } from 'node:util';
import { MAX_MEMORY_MIB, MIN_MEMORY_MIB } from './guest/layout.ts';
import { InjectedFailure } from './ipc.ts';

export interface DemoFlags {
  readonly memoryMiB: number;
  readonly churnPagesPerSec: number;
  /** Passed to migrate(). */
  readonly maxDowntimeMs: number;
  /** What the engine does when pre-copy cannot fit the limit: pause anyway (the demo's default), or fail. */
  readonly onWontConverge: 'abort' | 'switchover';
  /** Passed to migrate(): what the source's memory digest is computed from. */
  readonly verify: 'auto' | 'tracker' | 'memory' | 'sent';
  /** Passed to migrate(): page encodings. */
  readonly compression: CompressionMode;
  /** Passed to migrate(): bytes per second, 0 for no cap. */
  readonly maxBandwidth: number;
  /** Passed to migrate(): TCP connections for page data. */
  readonly channels: number;
  readonly jsonPath: string | undefined;
  readonly warmupMs: number;
  readonly afterMs: number;
  readonly inject: InjectedFailure;
  /** No console: migrate after the warm-up, as CI does. Otherwise the console waits for its Migrate button. */
  readonly headless: boolean;
  /** The console's HTTP port; 0: any free one. */
  readonly consolePort: number;
  /** Wait for the console's Migrate (and serve it after the report) even with no terminal on stdin. */
  readonly wait: boolean;
}

export const USAGE = `usage: pnpm demo [options]    (this text: pnpm demo -- --help; pnpm itself takes a bare --help)

  --memory-mib N            guest memory in MiB (default 256, ${MIN_MEMORY_MIB}..${MAX_MEMORY_MIB})
  --churn-pages-per-sec N   pages the guest dirties per second in the background (default 5000)
  --max-downtime-ms N       switch over once the predicted downtime is at most this (default 20; the engine's own is 300)
  --strict-limit            if pre-copy cannot fit the limit, fail with FERRY_WONT_CONVERGE (the engine's default)
                            instead of pausing anyway and saying so in the report
  --verify MODE              auto (default: the tracker cross-checked by the kernel's, no pass over memory while paused), tracker, sent, or memory (hash all of it while paused)
  --compression MODE        page encodings: off (default), lz4, xbzrle, adaptive
  --max-mbps N              cap page data at N megabits per second (default: no cap)
  --channels N              TCP connections for page data, striped by address (default 1, up to 16)
  --warmup-ms N             how long the guest serves before the migration starts (default 2000)
  --after-ms N              how long the client goes on against the destination (default 1500)
  --json PATH               also write the report as JSON to PATH
  --headless                no web console: migrate to the destination after the warm-up (for CI and terminals);
                            without it the launcher serves the console, prints its URL, and migrates when you press Migrate there
  --console-port N          the console's port on 127.0.0.1 (default 0: any free port)
  --wait                    with no terminal on stdin, still wait for Migrate in the console and serve it after the
                            report (a browser driven by a script); by default such a run migrates after the warm-up
  --inject-failure WHAT     fail on purpose to show the rollback: load-device-state (default none)
  --help                    this text`;

export function parseFlags(argv: readonly string[]): DemoFlags {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      'memory-mib': { type: 'string', default: '256' },
      'churn-pages-per-sec': { type: 'string', default: '5000' },
      'max-downtime-ms': { type: 'string', default: '20' },
      'strict-limit': { type: 'boolean', default: false },
      verify: { type: 'string', default: 'auto' },
      compression: { type: 'string', default: 'off' },
      'max-mbps': { type: 'string', default: '0' },
      channels: { type: 'string', default: '1' },
      json: { type: 'string' },
      'warmup-ms': { type: 'string', default: '2000' },
      'after-ms': { type: 'string', default: '1500' },
      'inject-failure': { type: 'string', default: InjectedFailure.NONE },
      help: { type: 'boolean', default: false },
      headless: { type: 'boolean', default: false },
      'console-port': { type: 'string', default: '0' },
      wait: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new FlagError('');
  const inject = values['inject-failure'];
  if (!Object.values(InjectedFailure).includes(inject as InjectedFailure)) {
    throw new FlagError(`--inject-failure takes one of ${Object.values(InjectedFailure).join(', ')}`);
  }
  const verify = values.verify as DemoFlags['verify'];
  if (!['auto', 'tracker', 'memory', 'sent'].includes(verify)) throw new FlagError('--verify takes auto, tracker, sent or memory');
  const compression = values.compression as CompressionMode;
  if (!['off', 'lz4', 'xbzrle', 'adaptive'].includes(compression)) throw new FlagError('--compression takes off, lz4, xbzrle or adaptive');
  return {
    verify,
    compression,
    maxBandwidth: (int(values['max-mbps'], '--max-mbps', 0, 1_000_000) * 1_000_000) / 8,
    channels: int(values.channels, '--channels', 1, 16),
    memoryMiB: int(values['memory-mib'], '--memory-mib', MIN_MEMORY_MIB, MAX_MEMORY_MIB),
    churnPagesPerSec: int(values['churn-pages-per-sec'], '--churn-pages-per-sec', 0, 1_000_000),
    maxDowntimeMs: int(values['max-downtime-ms'], '--max-downtime-ms', 1, 60_000),
    onWontConverge: values['strict-limit'] ? 'abort' : 'switchover',
    jsonPath: values.json,
    warmupMs: int(values['warmup-ms'], '--warmup-ms', 0, 600_000),
    afterMs: int(values['after-ms'], '--after-ms', 0, 600_000),
    inject: inject as InjectedFailure,
    headless: values.headless,
    consolePort: int(values['console-port'], '--console-port', 0, 65_535),
    wait: values.wait,
  };
}

export class FlagError extends Error {}

function int(text: string, name: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new FlagError(`${name} takes a whole number in ${min}..${max}, got "${text}"`);
  return n;
}

/**
 * Whether this run waits for Migrate in the console (and serves it after the report): with a
 * person at the terminal, or `--wait`. A run with neither (a script, CI) migrates after the
 * warm-up and ends after the report.
 */
export function waitsForMigrate(flags: DemoFlags): boolean {
  return !flags.headless && (process.stdin.isTTY === true || flags.wait);
}
