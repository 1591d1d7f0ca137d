import type { DowntimePrediction } from '@ferry/engine';
import type { WireEvent } from '../ipc.ts';
import { fmtMiB, fmtMs, fmtRate } from './format.ts';

/** Least time between two progress lines of the same round. */
const PROGRESS_EVERY_MS = 500;

/**
 * Turns the engine's migration events (forwarded from the source host) into readable lines: one
 * per round, progress every half second while a long round runs, and the switchover.
 */
export class ProgressPrinter {
  private readonly print: (line: string) => void;
  private lastProgressMs = 0;
  private switchedOver = false;

  constructor(print: (line: string) => void) {
    this.print = print;
  }

  onEvent(event: WireEvent): void {
    switch (event.type) {
      case 'round-start':
        if (this.switchedOver) this.print(`  final    ${pad(event.dirtyPages, 7)} dirty pages to send with the guest paused`);
        else if (event.round === 0) this.print(`  round 0  ${pad(event.dirtyPages, 7)} pages: all of memory (zero pages are skipped)`);
        this.lastProgressMs = performance.now();
        return;
      case 'progress': {
        const now = performance.now();
        if (now - this.lastProgressMs < PROGRESS_EVERY_MS) return;
        this.lastProgressMs = now;
        this.print(
          `  ${label(event.round, this.switchedOver)}  ${pad(event.pagesSent, 7)}/${event.roundPages} pages  ${fmtMiB(event.bytesSent)}  ${fmtRate(event.bandwidthBytesPerSec)}`,
        );
        return;
      }
      case 'round-end': {
        const s = event.stats;
        this.print(
          `  ${label(s.round, this.switchedOver)}  ${pad(s.dirtyPages, 7)} dirty -> ${pad(s.pagesSent, 7)} pages sent (${s.zeroPages} zero) ` +
            `${fmtMiB(s.bytesSent)} in ${fmtMs(s.durationMs)}, ${fmtRate(s.bandwidthBytesPerSec)}`,
        );
        return;
      }
      case 'switchover':
        this.switchedOver = true;
        this.print(
          `  switchover after round ${event.round - 1} (${REASONS[event.reason] ?? event.reason}): ${event.remainingPages} pages dirty, ` +
            `predicted downtime ${fmtMs(event.predictedDowntimeMs)}${parts(event.prediction)}; pausing the guest`,
        );
        return;
      case 'completed':
        this.print(`  completed: guest resumed on the destination, downtime ${fmtMs(event.report.downtimeMs)}`);
        return;
      case 'failed':
        this.print(`  FAILED: ${event.code}: ${event.message} (guest ${event.guestResumed ? 'resumed on the source' : 'NOT resumed'})`);
        return;
      case 'phase':
        return;
    }
  }
}

function label(round: number, final: boolean): string {
  return final ? 'final  ' : `round ${String(round).padEnd(2)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width);
}

const REASONS: Record<string, string> = {
  converged: 'the predicted downtime fits the target',
  'nothing-left': 'nothing left to send',
  'no-progress': 'the dirty set stopped shrinking',
  'max-rounds': 'round budget spent',
};

/** " (5.1 ms sending at 1.2 GB/s + 1.4 ms fixed)": what the prediction is made of. */
function parts(p: DowntimePrediction | undefined): string {
  if (!p) return '';
  return ` (${fmtMs(p.transferMs)} sending at ${fmtRate(p.inputs.bandwidthBytesPerSec)} + ${fmtMs(p.fixedMs)} fixed)`;
}
