/** Post-copy on the source: hand the guest over with pages missing, then serve and push them. */
import type { Kernels } from '../accel/kernels.ts';
import { BatchEncoder } from '../codec/batch-encoder.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, MigrationError, ProtocolError, toFerryError } from '../errors.ts';
import { digestOfPageHashes, memoryDigestAsync } from '../memory/digest.ts';
import { PageKeys } from '../memory/page-keys.ts';
import type * as msg from '../protocol/messages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import type { Link } from '../session/connector.ts';
import { sendDeviceState } from '../session/device-state.ts';
import { awaitResumed, commit } from '../session/handover.ts';
import { MissingPageMap } from '../session/missing-map.ts';
import { batchPagesFor } from '../session/negotiation.ts';
import type { MigrationReport } from '../session/report.ts';
import type { SourceContext } from '../session/source-context.ts';
import type { Verification } from '../session/verification.ts';
import { sourceReport } from '../session/source-report.ts';
import { toHex } from '../util/bytes.ts';
import { PageServer } from './page-server.ts';

/** What pre-copy leaves to post-copy: the pages still to send and the encoder that sent the rest. */
export interface PostcopyEntry {
  /** Pages the destination lacks (all of them for pure post-copy). */
  readonly missing: DirtyBitmap[];
  /** The round post-copy's pages belong to (0 for pure post-copy). */
  readonly round: number;
  /** Why post-copy: `strategy`, or the policy's reason. */
  readonly reason: string;
  /** The pre-copy rounds' encoder, sender figures and `verify`, when there were rounds. */
  readonly precopy?: {
    readonly encoder: BatchEncoder;
    readonly pagesSent: number;
    readonly rounds: MigrationReport['rounds'];
    readonly verification: Verification;
  };
}

/**
 * Hands the guest over with pages still missing: pause, send the map of pages the destination
 * lacks and the device state, commit, and once the guest runs there serve its page requests
 * first and push the rest behind them. Ends when the destination confirms every page and the
 * digest of the memory as paused here. A break is recovered within `recoveryTimeoutMs`.
 */
export async function servePostcopy(ctx: SourceContext, kernels: Kernels, entry: PostcopyEntry): Promise<MigrationReport> {
  const o = ctx.o;
  const memory = o.memory;
  const { missing, round, reason } = entry;
  // Post-copy pages travel on the control connection only: the data channels are done.
  await ctx.closeChannels();
  // Only self-contained encodings: the destination's copy of a page may have changed since
  // (the guest runs there), so no XBZRLE delta or DEDUP reference can apply to it. Built
  // before the pause: its tables grow with the guest, the downtime must not.
  const encoder = new BatchEncoder(memory.layout, kernels, {
    compression: o.compression === 'lz4' ? 'lz4' : 'off',
    batchPages: batchPagesFor(ctx.terms!.maxFrameBodyBytes, memory.pageSize, 32),
    encodings: ctx.terms!.encodings,
    clock: ctx.clock,
  });
  const pause = await ctx.pauseGuest();
  if (round > 0) for (let r = 0; r < missing.length; r++) await ctx.tracker.sync(r, missing[r]!);
  const crossCheck = entry.precopy?.verification.crossCheck;
  const missed = crossCheck ? await crossCheck.check(missing, true) : 0;
  const missingPages = missing.reduce((n, d) => n + d.count(), 0);
  ctx.emit({ type: 'switchover', round, reason: `postcopy: ${reason}`, remainingPages: missingPages, predictedDowntimeMs: 0 });
  let link: Link = ctx.link!;
  await link.transport.send(encode(Msg.POSTCOPY_ENTER, { round }));
  for (const frame of MissingPageMap.encode('POSTCOPY_MISSING', missing, ctx.terms!.maxFrameBodyBytes).frames)
    await link.transport.send(frame);
  const mapDone = ctx.clock.nowMs();
  const state = await ctx.hook('saveDeviceState', () => o.controlPlane.saveDeviceState());
  await sendDeviceState(link.transport, state, ctx.terms!.maxFrameBodyBytes);
  const deviceStateDone = ctx.clock.nowMs();

  // Pages go only after COMMIT: before it the source may still resume the guest here.
  const postcopyPages = missing.map((b) => new DirtyBitmap(b.bitCount, b.words.slice()));
  const server = new PageServer({
    memory,
    transport: link.transport,
    encoder,
    round,
    missing,
    prepaging: o.prepaging ?? true,
    pacer: ctx.pacer,
    clock: ctx.clock,
  });
  ctx.pageServer = server;
  await commit(ctx, link, undefined);

  // Memory is frozen for good. Pure post-copy sends every page from it, so the digest of the
  // pages as sent is exactly that of memory and costs no pass; after pre-copy rounds it is
  // taken from memory (or from the pages as sent with `verify: 'sent'`), once everything is
  // queued, so that the pass does not slow the answers to page requests.
  const fromSent = round === 0 || (entry.precopy !== undefined && entry.precopy.verification.mode !== 'memory');
  let digestPromise: Promise<bigint> | undefined;
  const digestOnce = (): Promise<bigint> => {
    digestPromise ??= fromSent
      ? Promise.resolve(
          digestOfPageHashes(
            entry.precopy
              ? mergeSentHashes(memory.layout, entry.precopy.encoder.sentHashes, encoder.sentHashes, postcopyPages)
              : encoder.sentHashes,
            kernels,
          ),
        )
      : memoryDigestAsync(memory, kernels);
    return digestPromise;
  };
  let resumed: msg.Resumed = { resumeMicros: 0, verifyMicros: 0 };
  // The map of missing pages and the device state; page requests may start before RESUMED.
  let bytesDuringDowntime = 0;
  let resumedAt: number | undefined;
  let recoveries = 0;
  for (;;) {
    try {
      if (resumedAt === undefined) {
        resumed = await awaitResumed(ctx, link);
        resumedAt = ctx.clock.nowMs();
        bytesDuringDowntime = ctx.transportBytes() - pause.bytesBeforePause;
        ctx.phase.to('postcopy');
      }
      // The background push starts once the guest runs: before, it would only compete with
      // the handover for the cores (page requests are answered from COMMIT on).
      const pushing = server.run();
      pushing.catch(() => {});
      await Promise.race([pushing, link.closed.promise]);
      // A push that ended with its connection has not sent every page: the digest of the pages
      // as sent would miss them (and is kept once taken), so recover first.
      if (server.pagesLeft > 0) throw new MigrationError(ErrorCode.CONNECTION_LOST, 'post-copy connection lost during the push');
      const digest = await digestOnce();
      // The digest is given here in every version: the guest was handed over at COMMIT already, and
      // the destination, which runs it, must learn itself whether its memory is whole.
      await link.transport.send(encode(Msg.COMPLETE, { digest, totalPages: memory.totalPages, finalRound: round }));
      const done = decode(Msg.POSTCOPY_DONE, await link.inbox.next(o.idleTimeoutMs ?? 30_000, 'waiting for POSTCOPY_DONE'));
      if (done.digest !== digest) {
        throw new ProtocolError(
          ErrorCode.DIGEST_MISMATCH,
          `destination POSTCOPY_DONE carries digest ${toHex(done.digest)}, ours is ${toHex(digest)}`,
        );
      }
      break;
    } catch (err) {
      const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
      if (!ctx.worthReconnecting(error, link.transport)) throw error;
      link.transport.destroy(error);
      const back = await ctx.reconnect('postcopy', o.recoveryTimeoutMs ?? 30_000, error);
      server.resume(back.transport, back.missing);
      link = back;
      recoveries++;
      if (resumedAt === undefined) {
        // RESUMED was lost with the connection; the destination answered RECOVER, so it runs the guest.
        resumedAt = ctx.clock.nowMs();
        ctx.phase.to('postcopy');
      }
    }
  }
  const digest = await digestOnce();
  const doneAt = ctx.clock.nowMs();
  ctx.phase.to('completed');
  if (round > 0) ctx.tracker.stop();
  await link.transport.end();
  const stats = server.stats();
  const report = sourceReport(ctx, {
    pause,
    resumedAt,
    doneAt,
    downtime: {
      pauseMs: pause.pausedAt - pause.pauseStart,
      finalRoundMs: mapDone - pause.pausedAt,
      deviceStateMs: deviceStateDone - mapDone,
      digestMs: 0,
      handoverMs: resumedAt - deviceStateDone,
    },
    resumed,
    bytesSentDuringDowntime: bytesDuringDowntime,
    pagesSent: (entry.precopy?.pagesSent ?? 0) + stats.requestedPages + stats.pushedPages,
    rounds: entry.precopy?.rounds ?? [],
    finalRoundPages: 0,
    deviceStateBytes: state.byteLength,
    digest,
    verify: fromSent ? 'sent' : 'memory',
    verification: {
      mode: entry.precopy?.verification.mode ?? 'sent',
      tracker: ctx.tracker.kind,
      trackerMissedPages: crossCheck?.missedPages ?? 0,
      missedAtPause: missed,
      audit: null,
    },
    // Pre-copy rounds' encodings; pure post-copy has only the post-copy encoder's.
    codecs: entry.precopy ? entry.precopy.encoder.stats() : encoder.stats(),
    postcopy: { reason, missingPages, ...stats, durationMs: doneAt - resumedAt, recoveries },
  });
  ctx.emit({ type: 'completed', report });
  await ctx.hook('release', () => o.controlPlane.release?.());
  return report;
}

/**
 * The hash of every page as last sent: post-copy's entry for the pages it was to send (the
 * missing set when it began), pre-copy's for the rest (clean since they were sent).
 */
function mergeSentHashes(
  layout: ConstructorParameters<typeof PageKeys>[0],
  precopy: BigUint64Array,
  postcopy: BigUint64Array,
  postcopyPages: readonly DirtyBitmap[],
): BigUint64Array {
  const merged = precopy.slice();
  const keys = new PageKeys(layout);
  postcopyPages.forEach((pages, r) => {
    for (let p = pages.nextSet(0); p >= 0; p = pages.nextSet(p + 1)) merged[keys.key(r, p)] = postcopy[keys.key(r, p)]!;
  });
  return merged;
}
