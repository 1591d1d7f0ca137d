import type { Kernels } from '../accel/kernels.ts';
import { ErrorCode, ProtocolError, toFerryError } from '../errors.ts';
import { messageName } from '../protocol/constants.ts';
import { MAX_PROBE_BYTES, MAX_PROBE_DATA_BODY_BYTES } from '../protocol/limits.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import type { TcpTransport } from '../transport/tcp.ts';
import { DESTINATION_TABLE } from './destination-table.ts';
import { handlerFor } from './message-table.ts';

/** The page size PROBE_DATA is hashed in, as pages are. */
const PROBE_HASH_PAGE = 4096;

/**
 * The destination's answer to an accepted probe (DESTINATION_TABLE's `probing` state): the
 * source may then measure the link with PROBE_DATA (discarded, hashed like pages so the rate is
 * what page batches get, at most MAX_PROBE_BYTES) and PROBE_END, answered with PROBE_ACK.
 */
export function respondToProbe(transport: TcpTransport, kernels: Kernels): void {
  transport.setMaxBodyBytes(MAX_PROBE_DATA_BODY_BYTES);
  let received = 0;
  const hashes = new BigUint64Array(MAX_PROBE_DATA_BODY_BYTES / PROBE_HASH_PAGE);
  transport.onFrame((f) => {
    try {
      switch (handlerFor(DESTINATION_TABLE, 'probing', f)) {
        case 'probeData': {
          if (received + f.body.byteLength > MAX_PROBE_BYTES) {
            throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `a probe does not send more than ${MAX_PROBE_BYTES} bytes`);
          }
          received += f.body.byteLength;
          const whole = f.body.byteLength - (f.body.byteLength % PROBE_HASH_PAGE);
          kernels.hashPages(f.body.subarray(0, whole), PROBE_HASH_PAGE, hashes);
          return;
        }
        case 'probeEnd':
          decode(Msg.PROBE_END, f);
          transport.write(encode(Msg.PROBE_ACK, { bytes: received }));
          void transport.end().catch(() => {});
          return;
        default:
          throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `a probe does not send ${messageName(f.type)}`);
      }
    } catch (err) {
      transport.destroy(toFerryError(err, ErrorCode.UNEXPECTED_MESSAGE));
    }
  });
}
