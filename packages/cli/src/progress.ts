import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { MigrationEvent } from '@ferry/engine';
import { bytes, rate } from './format.ts';

/** What `ferry migrate` shows while it runs: bars on a terminal, a line per round elsewhere. */
export interface Progress {
  onEvent(e: MigrationEvent): void;
  stop(): void;
}

export function progressFor(stream: NodeJS.WriteStream): Progress {
  return stream.isTTY ? new RoundProgress(stream) : new RoundLines(stream);
}

/** A line per round and per notable event, for logs and pipes. */
class RoundLines implements Progress {
  constructor(private readonly stream: NodeJS.WritableStream) {}

  onEvent(e: MigrationEvent): void {
    if (e.type === 'round-end') {
      const s = e.stats;
      this.stream.write(
        `round ${s.round}${s.final ? ' (final)' : ''}: ${s.pagesSent} pages, ${bytes(s.bytesSent)} in ${s.durationMs.toFixed(1)} ms, ${rate(s.bandwidthBytesPerSec)}\n`,
      );
    } else if (e.type === 'switchover' || e.type === 'kernels-fallback' || e.type === 'reconnecting') {
      this.stream.write(`${describe(e)}\n`);
    }
  }

  stop(): void {}
}

/** A progress bar per round (cli-progress), fed by the migration's events. `stop()` before printing anything else. */
class RoundProgress implements Progress {
  private readonly bars: MultiBar;
  private bar: SingleBar | undefined;

  constructor(stream: NodeJS.WriteStream) {
    this.bars = new MultiBar(
      { format: ' round {round} [{bar}] {percentage}% | {value}/{total} pages | {sent} | {rate}', hideCursor: true, stream },
      Presets.shades_classic,
    );
  }

  onEvent(e: MigrationEvent): void {
    if (e.type === 'round-start') {
      this.bar?.stop();
      this.bar = this.bars.create(Math.max(e.dirtyPages, 1), 0, { round: e.final ? `${e.round} (final)` : e.round, sent: '', rate: '' });
    } else if (e.type === 'progress') {
      this.bar?.setTotal(Math.max(e.roundPages, e.pagesSent, 1));
      this.bar?.update(e.pagesSent, { sent: bytes(e.totalBytesSent), rate: rate(e.bandwidthBytesPerSec) });
    } else if (e.type === 'round-end') {
      this.bar?.update(e.stats.pagesSent, { sent: bytes(e.stats.bytesSent), rate: rate(e.stats.bandwidthBytesPerSec) });
    } else if (e.type === 'switchover' || e.type === 'kernels-fallback' || e.type === 'reconnecting') {
      this.bars.log(`${describe(e)}\n`);
    }
  }

  stop(): void {
    this.bars.stop();
  }
}

function describe(e: MigrationEvent): string {
  if (e.type === 'switchover')
    return `switchover: ${e.reason}, ${e.remainingPages} pages left, predicted downtime ${e.predictedDowntimeMs.toFixed(1)} ms`;
  if (e.type === 'kernels-fallback') return `note: ${e.reason}`;
  if (e.type === 'reconnecting') return `connection lost (${e.reason}); reconnecting, attempt ${e.attempt}`;
  return e.type;
}
