import type { DestinationEvent, MigrationEvent } from './events.ts';

/**
 * An event as one log line's figures: the report and round statistics cut to their headline
 * numbers, an error to its code and message, the prediction to its total.
 */
export function loggable(event: MigrationEvent | DestinationEvent): Record<string, unknown> {
  switch (event.type) {
    case 'completed': {
      const r = event.report;
      return { totalMs: r.totalMs, downtimeMs: r.downtimeMs, bytesSent: r.bytesSent, rounds: r.rounds.length, strategy: r.strategy };
    }
    case 'failed':
      return { code: event.error.code, message: event.error.message, ...('guestResumed' in event && { guestResumed: event.guestResumed }) };
    case 'round-end': {
      if ('stats' in event) {
        const { prediction: _, ...stats } = event.stats;
        return stats;
      }
      const { type: _, ...rest } = event;
      return rest;
    }
    case 'switchover': {
      const { prediction, type: _, ...rest } = event;
      return { ...rest, ...(prediction && { fixedMs: prediction.fixedMs, transferMs: prediction.transferMs }) };
    }
    default: {
      const { type: _, ...rest } = event;
      return rest;
    }
  }
}
