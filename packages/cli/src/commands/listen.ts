import { type FerryError, type IncomingMigration, MigrationDestination, type OptionalEncoding, type OptionalFeature } from '@ferry/engine';
import { Command } from 'commander';
import { adapter } from '../adapters/index.ts';
import { parseInteger } from '../address.ts';
import { ExitCode, exitCodeOf } from '../exit-codes.ts';
import { bytes } from '../format.ts';
import { adapterOptions, type GuestValues, guestOptions, type SecurityValues, security, securityOptions } from '../options.ts';
import type { Output, Runner } from '../output.ts';

interface ListenValues extends SecurityValues, GuestValues {
  readonly host: string;
  readonly port: string;
  readonly maxGuestMib?: string;
  readonly recoveryTimeoutMs?: string;
  readonly acceptFeatures?: string;
  readonly acceptEncodings?: string;
  readonly maxFrameBody?: string;
}

/** `ferry listen`: takes one incoming guest into an adapter. */
export function listenCommand(run: Runner): Command {
  const cmd = new Command('listen')
    .summary('wait for one incoming migration')
    .description(
      'Listens for one migration and hands the guest to --guest: raw writes the memory to --out and exits; kv runs the ' +
        'guest here until SIGINT or SIGTERM; qemu fills the RAM file of a QEMU started with -incoming defer, runs it there and exits. With --json, JSON lines: {"event":"listening"}, then {"event":"completed"} or {"event":"failed"}.',
    )
    .option('--host <address>', 'address to listen on (beyond loopback: a key, TLS or --insecure)', '127.0.0.1')
    .option('--port <port>', 'port (0: the system picks; read it from the listening line)', '0')
    .option('--max-guest-mib <n>', 'refuse guests larger than this (MiB)')
    .option('--recovery-timeout-ms <ms>', 'how long a broken connection may be recovered (milliseconds; engine default 30000)')
    .option('--accept-features <list>', 'optional features taken, comma-separated: postcopy,resumable,channels (default all; "" for none)')
    .option('--accept-encodings <list>', 'optional page encodings decoded, comma-separated: lz4,xbzrle,dedup (default all; "" for none)')
    .option('--max-frame-body <bytes>', 'largest frame body taken, announced to the source (bytes; engine default 16 MiB)')
    .option('--json', 'JSON lines on stdout', false);
  guestOptions(cmd, true);
  securityOptions(cmd);
  return cmd.action(run(listen));
}

async function listen(out: Output, v: ListenValues): Promise<number> {
  const sec = security(v);
  const guest = await adapter(v.guest!).destination(adapterOptions(v));
  try {
    const destination = await MigrationDestination.listen({
      host: v.host,
      port: parseInteger(v.port, '--port', 0, 65_535),
      ...sec,
      controlPlane: guest.controlPlane,
      onEvent: (e) => {
        if (e.type === 'kernels-fallback') out.note(`note: ${e.reason}`);
      },
      ...(v.maxGuestMib !== undefined && { maxGuestBytes: parseInteger(v.maxGuestMib, '--max-guest-mib', 1) * 2 ** 20 }),
      ...(v.recoveryTimeoutMs !== undefined && { recoveryTimeoutMs: parseInteger(v.recoveryTimeoutMs, '--recovery-timeout-ms', 1) }),
      ...(v.acceptFeatures !== undefined && { acceptFeatures: list(v.acceptFeatures) as OptionalFeature[] }),
      ...(v.acceptEncodings !== undefined && { acceptEncodings: list(v.acceptEncodings) as OptionalEncoding[] }),
      ...(v.maxFrameBody !== undefined && { maxFrameBodyBytes: parseInteger(v.maxFrameBody, '--max-frame-body', 65_536) }),
    });
    out.result({ event: 'listening', host: v.host, port: destination.port }, () => [`listening on ${v.host}:${destination.port}`]);
    let incoming: IncomingMigration | 'signal';
    let stop = (): void => {};
    const signalled = new Promise<'signal'>((resolve) => {
      stop = () => resolve('signal');
    });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      incoming = await Promise.race([destination.result, signalled]);
    } catch (err) {
      const e = err as FerryError;
      out.result({ event: 'failed', code: e.code, message: e.message }, () => [`incoming migration failed: ${e.code}: ${e.message}`]);
      return exitCodeOf(e);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    if (incoming === 'signal') {
      // A migration under way breaks with the process: its source keeps (and resumes) the guest.
      await destination.close();
      out.result({ event: 'failed', code: 'FERRY_ABORTED', message: 'stopped by a signal' }, () => ['stopped by a signal']);
      return ExitCode.CANCELLED;
    }
    const done = {
      event: 'completed',
      guestId: incoming.guestId,
      digest: incoming.digest,
      pagesReceived: incoming.pagesReceived,
      bytesReceived: incoming.bytesReceived,
      rounds: incoming.rounds,
      deviceStateBytes: incoming.deviceState.byteLength,
      ...guest.info(),
    };
    out.result(done, () => [
      `received ${incoming.guestId}: ${incoming.pagesReceived} pages, ${bytes(incoming.bytesReceived)} in ${incoming.rounds} rounds; digest ${incoming.digest} matched`,
      `guest: ${JSON.stringify(guest.info())}`,
    ]);
    await destination.close();
    if (guest.runsGuest) {
      out.note('the guest runs here; SIGINT or SIGTERM stops it');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return ExitCode.OK;
  } finally {
    await guest.close().catch(() => {});
  }
}

/** A comma-separated list; the engine checks its names (FERRY_INVALID_ARGUMENT names the option). */
function list(value: string): string[] {
  return value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}
