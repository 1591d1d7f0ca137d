/**
 * Hybrid's look before round 0: with a capped link, a short sample of the guest's writes
 * (`sampleDirtyRate`, five intervals) fitted to the write model says whether any pre-copy
 * round could fit the limit. When none could, a first round over all memory only delays the
 * post-copy that must follow and sends the hot pages twice: hybrid goes to post-copy at once
 * (its total then equals pure post-copy's, plus the sample). Uncapped, the link's rate is not
 * known before round 0; the rounds decide (after round 1 at the earliest).
 */
import { sampleDirtyRate } from '../dirty/dirty-rate.ts';
import { distinctPagesWritten, fitWriteModel } from '../estimate/write-model.ts';
import type { Kernels } from '../accel/kernels.ts';
import { nonZeroFraction } from '../memory/page-sample.ts';
import { PAGE_ENTRY_BYTES } from '../protocol/limits.ts';
import type { SourceContext } from '../session/source-context.ts';

/** The sample's length: short against a capped round 0 of any guest worth a hybrid migration. */
const SAMPLE_MS = 500;
const SAMPLE_INTERVALS = 5;
/** Pages read to estimate how much of memory round 0 sends (zero pages are skipped). */
const ZERO_SAMPLE_PAGES = 512;

export interface Precheck {
  /** Why post-copy now; undefined: let the rounds decide. */
  readonly postcopy: string | undefined;
  /** The best downtime a round could reach, ms, as the sample predicts it. */
  readonly bestMs: number;
}

export async function hybridPrecheck(ctx: SourceContext, kernels: Kernels, maxDowntimeMs: number, maxRounds: number): Promise<Precheck> {
  const o = ctx.o;
  const cap = ctx.pacer.rate;
  if (!Number.isFinite(cap) || o.policy) return { postcopy: undefined, bestMs: Number.NaN };
  const memory = o.memory;
  const s = await sampleDirtyRate({
    tracker: o.tracker,
    layout: memory.layout,
    durationMs: SAMPLE_MS,
    intervalMs: SAMPLE_MS / SAMPLE_INTERVALS,
    clock: ctx.clock,
  });
  const intervals = s.intervalsPagesPerSec.length;
  const model = fitWriteModel({
    perInterval: (s.dirtyPagesPerSec * s.durationMs) / 1000 / Math.max(intervals, 1),
    union: s.workingSetPages,
    intervals,
    intervalMs: s.durationMs / Math.max(intervals, 1),
  });
  const msPerPage = ((memory.pageSize + PAGE_ENTRY_BYTES) / cap) * 1000;
  // Round 0 skips zero pages: it sends memory's pages times the share of sampled pages that are not all zero.
  const round0Pages = memory.totalPages * nonZeroFraction(memory, kernels, ZERO_SAMPLE_PAGES);
  let pages = distinctPagesWritten(model, round0Pages * msPerPage);
  let best = pages * msPerPage;
  for (let round = 1; round < maxRounds && best > maxDowntimeMs; round++) {
    const next = distinctPagesWritten(model, pages * msPerPage);
    best = Math.min(best, next * msPerPage);
    if (next >= pages * 0.999) break;
    pages = next;
  }
  // Only the transfer is counted (the fixed part is not known yet): a "no" here is a sure one.
  return { postcopy: best > maxDowntimeMs ? 'wont-converge' : undefined, bestMs: best };
}
