// The messages of a migration's rounds and handover: ROUND_END/ROUND_ACK, SWITCHOVER, DEVICE_STATE, COMPLETE, READY, RESUMED, ECHO.
import { ErrorCode, ProtocolError } from '../errors.ts';
import type { MessageCodec } from './message-codec.ts';

export interface RoundEnd {
  readonly round: number;
  /** Pages the source sent in this round. */
  readonly pages: number;
}

export const roundEnd: MessageCodec<RoundEnd> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU32(m.round);
    c.setU32(m.pages);
  },
  decode(c) {
    const round = c.u32();
    const pages = c.u32();
    c.done('ROUND_END');
    return { round, pages };
  },
};

export interface RoundAck {
  readonly round: number;
  /** Pages the destination received in this round, so the source can check nothing went missing. */
  readonly pages: number;
  /** Frame bytes the destination has received since the handshake. */
  readonly bytesReceived: number;
}

export const roundAck: MessageCodec<RoundAck> = {
  preencode: () => 16,
  encode(m, c) {
    c.setU32(m.round);
    c.setU32(m.pages);
    c.setU64(m.bytesReceived);
  },
  decode(c) {
    const round = c.u32();
    const pages = c.u32();
    const bytesReceived = c.u53('bytes received');
    c.done('ROUND_ACK');
    return { round, pages, bytesReceived };
  },
};

export interface Switchover {
  /** The final round's number: the guest is paused and this round sends all that is left. */
  readonly round: number;
}

export const switchover: MessageCodec<Switchover> = {
  preencode: () => 4,
  encode(m, c) {
    c.setU32(m.round);
  },
  decode(c) {
    const round = c.u32();
    c.done('SWITCHOVER');
    return { round };
  },
};

export interface DeviceStateChunk {
  /** Size of the whole device state blob. */
  readonly totalBytes: number;
  /** Where this chunk starts in the blob; chunks arrive in order. */
  readonly offset: number;
  readonly data: Uint8Array;
}

export const deviceState: MessageCodec<DeviceStateChunk> = {
  preencode: (m) => 16 + m.data.byteLength,
  encode(m, c) {
    c.setU64(m.totalBytes);
    c.setU64(m.offset);
    c.setRaw(m.data);
  },
  decode(c) {
    const totalBytes = c.u53('device state size');
    const offset = c.u53('device state offset');
    const data = c.raw(c.remaining, 'device state');
    if (offset + data.byteLength > totalBytes) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'device state chunk runs past the declared size');
    }
    return { totalBytes, offset, data };
  },
};

export interface Complete {
  /** xxh64 over the u64-LE hashes of every page of every region, in order (docs/protocol.md). */
  readonly digest: bigint;
  readonly totalPages: number;
  readonly finalRound: number;
}

export const complete: MessageCodec<Complete> = {
  preencode: () => 20,
  encode(m, c) {
    c.setU64(m.digest);
    c.setU64(m.totalPages);
    c.setU32(m.finalRound);
  },
  decode(c) {
    const digest = c.u64();
    const totalPages = c.u53('total pages');
    const finalRound = c.u32();
    c.done('COMPLETE');
    return { digest, totalPages, finalRound };
  },
};

export interface Ready {
  /** The digest the destination computed over its own memory; equal to COMPLETE's. */
  readonly digest: bigint;
}

export const ready: MessageCodec<Ready> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.digest);
  },
  decode(c) {
    const digest = c.u64();
    c.done('READY');
    return { digest };
  },
};

export interface Resumed {
  /** Time the destination's resume hook took, in microseconds. */
  readonly resumeMicros: number;
  /** Time from COMPLETE received to READY sent (digest and device state load), in microseconds. */
  readonly verifyMicros: number;
}

export const resumed: MessageCodec<Resumed> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU32(Math.min(0xffff_ffff, Math.round(m.resumeMicros)));
    c.setU32(Math.min(0xffff_ffff, Math.round(m.verifyMicros)));
  },
  decode(c) {
    const resumeMicros = c.u32();
    const verifyMicros = c.u32();
    c.done('RESUMED');
    return { resumeMicros, verifyMicros };
  },
};

/** ECHO and ECHO_REPLY: a token the destination sends back unchanged. */
export interface Echo {
  readonly token: bigint;
}

export const echo: MessageCodec<Echo> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.token);
  },
  decode(c) {
    const token = c.u64();
    c.done('ECHO/ECHO_REPLY');
    return { token };
  },
};
