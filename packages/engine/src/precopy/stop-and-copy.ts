/** Pre-copy's end on the source: pause, final round, device state, digest, COMPLETE and the handover. */
import type { Kernels } from '../accel/kernels.ts';
import type { DirtyBitmap } from '../dirty/bitmap.ts';
import type { DowntimePrediction } from '../estimate/downtime.ts';
import { digestOfPageHashes, memoryDigest, memoryDigestAsync } from '../memory/digest.ts';
import { DIGEST_WITHHELD_MIN_VERSION } from '../protocol/constants.ts';
import { encode, Msg } from '../protocol/registry.ts';
import { sendDeviceState } from '../session/device-state.ts';
import { askWhetherCommitted, awaitResumed, commit } from '../session/handover.ts';
import { ErrorCode, toFerryError } from '../errors.ts';
import type { MigrationReport } from '../session/report.ts';
import type { SourceContext } from '../session/source-context.ts';
import { sourceReport } from '../session/source-report.ts';
import { auditFrozenMemory } from '../session/verification.ts';
import type { PrecopyRounds } from './rounds.ts';

/**
 * Stops the guest and copies the rest: everything from the pause to RESUMED is downtime. Sends
 * the pages dirtied since the last round, the device state and the memory digest, then hands
 * over (READY with the same digest, COMMIT, RESUMED) and reports.
 */
export async function stopAndCopy(
  ctx: SourceContext,
  kernels: Kernels,
  pre: PrecopyRounds,
  dirty: DirtyBitmap[],
  round: number,
  prediction: DowntimePrediction | undefined,
): Promise<MigrationReport> {
  const o = ctx.o;
  const memory = o.memory;
  const { sender, encoder, verification } = pre;
  const verify = verification.mode;
  const pause = await ctx.pauseGuest();
  // Memory is frozen from here on: hash it off-thread while the final round goes out (with
  // only the TypeScript kernels it runs where it is awaited, so its time lands in digestMs).
  const digestPromise = verify === 'memory' && kernels.hashPagesAsync ? memoryDigestAsync(memory, kernels) : undefined;
  digestPromise?.catch(() => {});
  for (let r = 0; r < dirty.length; r++) await ctx.tracker.sync(r, dirty[r]!);
  // The guest is paused: every page the second tracker saw must be among the first's; any it missed go now.
  const missed = verification.crossCheck ? await verification.crossCheck.check(dirty, true) : 0;
  const finalPages = dirty.reduce((n, d) => n + d.count(), 0);
  const link = ctx.link!;
  await link.transport.send(encode(Msg.SWITCHOVER, { round }));
  if (o.switchoverBandwidth !== undefined) ctx.pacer.setRate(o.switchoverBandwidth);
  await sender.send(dirty, round, finalPages, prediction, true);
  const finalRoundDone = ctx.clock.nowMs();

  const state = await ctx.hook('saveDeviceState', () => o.controlPlane.saveDeviceState());
  await sendDeviceState(link.transport, state, ctx.terms!.maxFrameBodyBytes);
  const deviceStateDone = ctx.clock.nowMs();

  const digest =
    verify !== 'memory'
      ? digestOfPageHashes(encoder.sentHashes, kernels)
      : digestPromise
        ? await digestPromise
        : memoryDigest(memory, kernels);
  const digestDone = ctx.clock.nowMs();
  // From version 3 the digest is withheld: the destination must show its own in READY.
  const told = ctx.version >= DIGEST_WITHHELD_MIN_VERSION ? 0n : digest;
  await link.transport.send(encode(Msg.COMPLETE, { digest: told, totalPages: memory.totalPages, finalRound: round }));

  await commit(ctx, link, digest);
  const resumed = await awaitResumed(ctx, link).catch((err: unknown) =>
    askWhetherCommitted(ctx, link, toFerryError(err, ErrorCode.CONNECTION_LOST)),
  );
  const resumedAt = ctx.clock.nowMs();
  ctx.phase.to('completed');

  ctx.tracker.stop();
  await ctx.closeChannels();
  await link.transport.end();
  // The guest runs on the destination; the copy here is frozen until release: audit it against what was sent.
  const audit = verification.audit ? await auditFrozenMemory(memory, kernels, encoder.sentHashes, () => ctx.clock.nowMs()) : null;
  if (audit) ctx.emit({ type: 'audit', ...audit });
  if (prediction) pre.predictor.recordOutcome(prediction, finalPages, resumedAt - pause.pauseStart);
  const report = sourceReport(ctx, {
    pause,
    resumedAt,
    doneAt: resumedAt,
    downtime: {
      pauseMs: pause.pausedAt - pause.pauseStart,
      finalRoundMs: finalRoundDone - pause.pausedAt,
      deviceStateMs: deviceStateDone - finalRoundDone,
      digestMs: digestDone - deviceStateDone,
      handoverMs: resumedAt - digestDone,
    },
    resumed,
    bytesSentDuringDowntime: ctx.transportBytes() - pause.bytesBeforePause,
    pagesSent: sender.pagesSent,
    rounds: sender.rounds,
    finalRoundPages: finalPages,
    deviceStateBytes: state.byteLength,
    digest,
    verify,
    verification: {
      mode: verify,
      tracker: ctx.tracker.kind,
      trackerMissedPages: verification.crossCheck?.missedPages ?? 0,
      missedAtPause: missed,
      audit,
    },
    codecs: encoder.stats(),
  });
  ctx.emit({ type: 'completed', report });
  await ctx.hook('release', () => o.controlPlane.release?.());
  return report;
}
