/** `probe()`: whether a destination would take a guest of this layout, and the link's rate, moving nothing. */
import { randomBytes } from 'node:crypto';
import { loadKernels } from '../accel/index.ts';
import { ErrorCode, HandshakeError, ProtocolError, toFerryError } from '../errors.ts';
import { Feature, Intent, messageName } from '../protocol/constants.ts';
import { frameChecksFor } from '../protocol/frame-check.ts';
import type { Frame } from '../protocol/frame.ts';
import { FRAME_HEADER_BYTES, MAX_HELLO_BODY_BYTES, MAX_PROBE_BYTES, MAX_PROBE_DATA_BODY_BYTES } from '../protocol/limits.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { checkedRoute, helloMessage } from './connector.ts';
import { encodingNames } from '../codec/encodings.ts';
import { featureBits, featureList } from './negotiation.ts';
import { checkProbeOptions } from './option-checks.ts';
import type { ProbeOptions } from './probe-options.ts';
import { Inbox } from '../transport/inbox.ts';
import { authenticateToDestination } from '../transport/psk-auth.ts';
import { TcpTransport } from '../transport/tcp.ts';
import { deferred } from '../util/deferred.ts';
import { rateWithoutWaits, runDelayMs } from '../util/run-delay.ts';
import { withTimeout } from '../util/timeout.ts';

export type { ProbeOptions } from './probe-options.ts';

export type ProbeResult =
  | {
      readonly accepted: true;
      readonly version: number;
      readonly maxFrameBodyBytes: number;
      /** From sending HELLO to reading the answer (connection set up already). */
      readonly rttMs: number;
      /** Version 4 on: the features offered (`ProbeOptions.features`, PSK_AUTH) the destination takes, by name. */
      readonly features?: readonly string[];
      /** Version 4 on: the page encodings the destination decodes, by name (RAW and ZERO always). */
      readonly encodings?: readonly string[];
      /** With `measureBytes`: bytes acknowledged over the time from the first byte sent to the acknowledgement, less one round trip. */
      readonly bandwidthBytesPerSec?: number;
      /**
       * The same without the time the sending thread waited for a CPU (Linux schedstat): what
       * the link gives when the guest, paused, no longer competes for the cores. Never above
       * four times `bandwidthBytesPerSec`; absent where the wait is not known.
       */
      readonly uncontendedBandwidthBytesPerSec?: number;
    }
  | { readonly accepted: false; readonly code: string; readonly reason: string };

/**
 * Asks a destination whether it would take a guest of this layout, without moving a page: the
 * same HELLO a migration sends, with the PROBE intent. A refusal is a result, not an error;
 * an unreachable or misbehaving destination rejects with a FerryError.
 */
export async function probe(options: ProbeOptions): Promise<ProbeResult> {
  checkProbeOptions(options);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const transport = await TcpTransport.connect({
    host: options.host,
    port: options.port,
    timeoutMs,
    maxBodyBytes: MAX_HELLO_BODY_BYTES,
    ...(options.tls !== undefined && { tls: options.tls }),
  });
  try {
    const reply = deferred<Frame>();
    if (!options.psk) {
      transport.onClose((err) => reply.reject(err));
      transport.onFrame((f) => reply.resolve(f));
    }
    const sessionId = randomBytes(16);
    const hello = helloMessage({
      intent: Intent.PROBE,
      sessionId,
      layout: options.layout,
      features: (options.psk ? Feature.PSK_AUTH : 0) | featureBits(options.features ?? []),
      guestId: options.guestId,
    });
    const sentAt = performance.now();
    await transport.send(hello);
    if (options.psk) {
      const inbox = new Inbox(transport, () => false);
      const next = (): Promise<Frame> => inbox.next(timeoutMs, 'authentication');
      try {
        await authenticateToDestination(transport, next, options.psk, sessionId, hello.subarray(FRAME_HEADER_BYTES));
      } catch (err) {
        if (err instanceof HandshakeError) return { accepted: false, code: err.code, reason: err.message };
        throw err;
      }
      const answer = probeAnswer(transport, await next(), performance.now() - sentAt);
      return answer.accepted && options.measureBytes ? await measure(transport, next, answer, options.measureBytes) : answer;
    }
    const answer = probeAnswer(transport, await withTimeout(reply.promise, timeoutMs, 'probe'), performance.now() - sentAt);
    if (!answer.accepted || !options.measureBytes) return answer;
    const inbox = new Inbox(transport, checkedRoute(transport, 'probing'));
    return await measure(transport, () => inbox.next(timeoutMs, 'probe acknowledgement'), answer, options.measureBytes);
  } catch (err) {
    throw toFerryError(err, ErrorCode.CONNECTION_LOST);
  } finally {
    transport.destroy();
  }
}

/** Pushes `bytes` of PROBE_DATA and times them to the destination's PROBE_ACK. */
async function measure(
  transport: TcpTransport,
  next: () => Promise<Frame>,
  accepted: Extract<ProbeResult, { accepted: true }>,
  bytes: number,
): Promise<ProbeResult> {
  const total = Math.min(bytes, MAX_PROBE_BYTES);
  // No frame larger than the destination announced (whole hash pages, so both sides hash alike).
  const chunkBytes = Math.min(MAX_PROBE_DATA_BODY_BYTES, accepted.maxFrameBodyBytes - (accepted.maxFrameBodyBytes % PROBE_HASH_PAGE));
  const chunk = new Uint8Array(chunkBytes).fill(0xa5);
  // Data moves as pages do: hashed on both sides (the destination hashes PROBE_DATA too), so
  // the rate is what page batches get, not what a bare socket gets.
  const kernels = await loadKernels();
  const hashes = new BigUint64Array(chunk.byteLength / PROBE_HASH_PAGE);
  const zeroBits = new Uint32Array(Math.ceil(hashes.length / 32));
  const start = performance.now();
  const delayAtStart = runDelayMs();
  for (let sent = 0; sent < total; sent += chunk.byteLength) {
    const n = Math.min(chunk.byteLength, total - sent);
    const data = n === chunk.byteLength ? chunk : chunk.subarray(0, n);
    kernels.scanPages(data.subarray(0, n - (n % PROBE_HASH_PAGE)), PROBE_HASH_PAGE, hashes, zeroBits);
    await transport.send(encode(Msg.PROBE_DATA, data));
  }
  await transport.send(encode(Msg.PROBE_END, { bytes: total }));
  const ack = decode(Msg.PROBE_ACK, await next());
  const elapsedMs = Math.max(performance.now() - start - accepted.rttMs, 0.001);
  const uncontended = rateWithoutWaits(ack.bytes, elapsedMs, runDelayMs() - delayAtStart);
  return {
    ...accepted,
    bandwidthBytesPerSec: (ack.bytes / elapsedMs) * 1000,
    ...(Number.isFinite(uncontended) && { uncontendedBandwidthBytesPerSec: uncontended }),
  };
}

/** The page size the probe hashes its data in. */
const PROBE_HASH_PAGE = 4096;

/** The destination's answer; an acceptance also sets the connection's frame checksums for its version. */
function probeAnswer(transport: TcpTransport, frame: Frame, rttMs: number): ProbeResult {
  if (frame.type === Msg.HELLO_ACCEPT.type) {
    const a = decode(Msg.HELLO_ACCEPT, frame);
    transport.setFrameChecks(frameChecksFor(a.version));
    return {
      accepted: true,
      version: a.version,
      maxFrameBodyBytes: a.maxFrameBodyBytes,
      rttMs,
      ...(a.features !== undefined && { features: featureList(a.features) }),
      ...(a.encodings !== undefined && { encodings: encodingNames(a.encodings) }),
    };
  }
  if (frame.type === Msg.HELLO_REJECT.type) {
    const r = decode(Msg.HELLO_REJECT, frame);
    return { accepted: false, code: r.code, reason: r.message };
  }
  throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `probe got ${messageName(frame.type)}`);
}
