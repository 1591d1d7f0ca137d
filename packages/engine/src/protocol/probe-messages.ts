// The messages of a probe's bandwidth measurement: PROBE_END and PROBE_ACK (a byte count).
import type { MessageCodec } from './message-codec.ts';

/** PROBE_END (bytes the source sent) and PROBE_ACK (bytes the destination received). */
export interface ProbeCount {
  readonly bytes: number;
}

export const probeCount: MessageCodec<ProbeCount> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.bytes);
  },
  decode(c) {
    const bytes = c.u53('probe bytes');
    c.done('PROBE_END/PROBE_ACK');
    return { bytes };
  },
};
