import { type FerryError, type MigrateOptions, type MigrationReport, startMigration } from '@ferry/engine';
import { Command, Option } from 'commander';
import { adapter } from '../adapters/index.ts';
import { parseAddress, parseInteger, parseRate } from '../address.ts';
import { ExitCode, exitCodeOf } from '../exit-codes.ts';
import { reportLines } from '../format.ts';
import { adapterOptions, type GuestValues, guestOptions, type SecurityValues, security, securityOptions } from '../options.ts';
import type { Output, Runner } from '../output.ts';
import { progressFor } from '../progress.ts';
import { serveStatus } from '../status-socket.ts';

interface MigrateValues extends SecurityValues, GuestValues {
  readonly to: string;
  readonly maxDowntimeMs: string;
  readonly maxBandwidth?: string;
  readonly switchoverBandwidth?: string;
  readonly strategy: MigrateOptions['strategy'];
  readonly compression: MigrateOptions['compression'];
  readonly channels: string;
  readonly verify: 'memory' | 'sent';
  readonly timeoutMs?: string;
  readonly warmupMs: string;
  readonly statusSocket?: string;
  readonly progress: boolean;
}

/** `ferry migrate`: moves a guest from an adapter to a `ferry listen` (or any Ferry destination). */
export function migrateCommand(run: Runner): Command {
  const cmd = new Command('migrate')
    .summary('live-migrate a guest to a destination')
    .description(
      'Live-migrates a guest (from --guest) to a Ferry destination. Progress on stderr; the report on stdout. ' +
        'While it runs, `ferry status` shows where it stands; SIGINT or SIGTERM cancel it (before COMMIT the guest runs on here).',
    )
    .requiredOption('--to <host:port>', 'the destination')
    .option('--max-downtime-ms <ms>', 'switch over once the predicted downtime fits (milliseconds)', '300')
    .option('--max-bandwidth <rate>', 'cap on pre-copy page data, bytes/s (k, M, G: powers of 1000); default uncapped')
    .option('--switchover-bandwidth <rate>', 'cap on the final round, bytes/s (0: uncapped); default --max-bandwidth')
    .addOption(new Option('--strategy <s>', 'how the guest moves').choices(['precopy', 'postcopy', 'hybrid']).default('precopy'))
    .addOption(new Option('--compression <c>', 'page encodings').choices(['off', 'lz4', 'xbzrle', 'adaptive']).default('off'))
    .option('--channels <n>', 'TCP connections for pages (1..16)', '1')
    .addOption(new Option('--verify <what>', 'what the source digest is computed from').choices(['memory', 'sent']).default('memory'))
    .option('--timeout-ms <ms>', 'cancel if not done by then (milliseconds); default none')
    .option('--warmup-ms <ms>', 'let the guest run this long before migrating (milliseconds)', '0')
    .option('--status-socket <path>', 'where `ferry status` asks (default: one per process in $XDG_RUNTIME_DIR or the temp dir)')
    .option('--no-progress', 'no progress bars')
    .option('--json', 'JSON lines on stdout: {"event":"guest"} first, {"event":"completed"|"failed"} last', false);
  guestOptions(cmd, true);
  securityOptions(cmd);
  return cmd.action(run(migrate));
}

async function migrate(out: Output, v: MigrateValues): Promise<number> {
  const sec = security(v);
  const to = parseAddress(v.to, '--to');
  const guest = await adapter(v.guest!).source(adapterOptions(v));
  try {
    out.result({ event: 'guest', adapter: v.guest, ...guest.info }, () => [`guest ${v.guest}: ${JSON.stringify(guest.info)}`]);
    const warmup = parseInteger(v.warmupMs, '--warmup-ms', 0);
    if (warmup > 0) await new Promise((r) => setTimeout(r, warmup));
    const progress = v.progress && !out.json ? progressFor(process.stderr) : undefined;
    const handle = startMigration({
      ...to,
      ...sec,
      memory: guest.memory,
      tracker: guest.tracker,
      controlPlane: guest.controlPlane,
      guestId: guest.guestId,
      maxDowntimeMs: parseInteger(v.maxDowntimeMs, '--max-downtime-ms', 1),
      ...(v.maxBandwidth !== undefined && { maxBandwidth: parseRate(v.maxBandwidth, '--max-bandwidth') }),
      ...(v.switchoverBandwidth !== undefined && { switchoverBandwidth: parseRate(v.switchoverBandwidth, '--switchover-bandwidth') }),
      ...(v.strategy !== undefined && { strategy: v.strategy }),
      ...(v.compression !== undefined && { compression: v.compression }),
      channels: parseInteger(v.channels, '--channels', 1, 16),
      verify: v.verify,
      ...(v.timeoutMs !== undefined && { signal: AbortSignal.timeout(parseInteger(v.timeoutMs, '--timeout-ms', 1)) }),
      onEvent: (e) => {
        progress?.onEvent(e);
        if (e.type === 'kernels-fallback' && !progress) out.note(`note: ${e.reason}`);
      },
    });
    // The migration runs already: a socket that cannot be made costs `ferry status`, not the migration.
    const status = await serveStatus(v.statusSocket, () => ({
      pid: process.pid,
      to: v.to,
      guest: v.guest!,
      status: handle.status(),
    })).catch((err: unknown) => {
      out.note(`no status socket (${(err as Error).message}): ferry status will not see this migration`);
      return { path: '', close() {} };
    });
    if (status.path) out.note(`status: ferry status ${status.path}`);
    const cancel = (): void => handle.cancel(new Error('cancelled by a signal'));
    process.once('SIGINT', cancel);
    process.once('SIGTERM', cancel);
    let report: MigrationReport;
    try {
      report = await handle.result;
    } catch (err) {
      const e = err as FerryError;
      progress?.stop();
      out.result({ event: 'failed', code: e.code, message: e.message, report: e.report }, () => [
        `migration failed: ${e.code}: ${e.message}`,
        e.report?.guestResumed === false ? 'the source guest stays paused' : 'the guest runs on here',
      ]);
      return exitCodeOf(e);
    } finally {
      status.close();
      process.off('SIGINT', cancel);
      process.off('SIGTERM', cancel);
    }
    progress?.stop();
    out.result({ event: 'completed', report }, () => reportLines(report));
    return ExitCode.OK;
  } finally {
    await guest.close().catch(() => {});
  }
}
