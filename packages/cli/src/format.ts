import type { MigrationReport, MigrationStatus } from '@ferry/engine';

/** Bytes as MiB or GiB for people. */
export function bytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

export function rate(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
}

export function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(1)} ms`;
}

/** A finished migration in a few lines. */
export function reportLines(r: MigrationReport): string[] {
  const d = r.downtime;
  return [
    `migrated ${bytes(r.memoryBytes)} by ${r.strategy} in ${ms(r.totalMs)}: ${r.rounds.length} rounds, ${bytes(r.bytesSent)} sent`,
    `downtime ${ms(r.downtimeMs)} (pause ${ms(d.pauseMs)}, final round ${ms(d.finalRoundMs)}, device state ${ms(d.deviceStateMs)}, digest ${ms(d.digestMs)}, handover ${ms(d.handoverMs)})`,
    `digest ${r.digest} matched on both hosts; kernels ${r.kernels}`,
    ...(r.kernelsFallback ? [`note: ${r.kernelsFallback}`] : []),
  ];
}

/** A running migration in a few lines. */
export function statusLines(s: MigrationStatus): string[] {
  const lines = [`phase ${s.phase}, round ${s.round < 0 ? '-' : s.round}${s.finalRound ? ' (final)' : ''}, ${ms(s.elapsedMs)} elapsed`];
  lines.push(`${bytes(s.bytesSent)} sent, ${s.pagesSent} pages; round ${s.roundPagesSent}/${s.roundPages} pages`);
  lines.push(`link ${rate(s.bandwidthBytesPerSec)}, guest dirties ${Math.round(s.dirtyPagesPerSec)} pages/s`);
  if (s.roundEtaMs > 0) lines.push(`round ends in about ${ms(s.roundEtaMs)} (${bytes(s.roundRemainingBytes)} left)`);
  if (s.prediction) lines.push(`predicted downtime ${ms(s.prediction.totalMs)}`);
  if (s.switchoverReason) lines.push(`switched over: ${s.switchoverReason}`);
  return lines;
}
