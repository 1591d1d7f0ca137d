// The messages of post-copy and of recovery after a break: POSTCOPY_*, PAGE_REQUEST, RECOVER_END.
import { ErrorCode, ProtocolError } from '../errors.ts';
import { MAX_MISSING_PAGES_PER_MESSAGE, MAX_PAGES_PER_REQUEST } from './limits.ts';
import type { MessageCodec } from './message-codec.ts';

export interface PostcopyEnter {
  /** The round the post-copy pages are sent in; the guest is paused. */
  readonly round: number;
}

export const postcopyEnter: MessageCodec<PostcopyEnter> = {
  preencode: () => 4,
  encode(m, c) {
    c.setU32(m.round);
  },
  decode(c) {
    const round = c.u32();
    c.done('POSTCOPY_ENTER');
    return { round };
  },
};

export interface PostcopyMissing {
  readonly region: number;
  /** The first page the runs describe. */
  readonly firstPage: number;
  /** How many pages the runs describe (1 .. 2^20). */
  readonly pageCount: number;
  /** Run-length form (DirtyBitmap.toRuns) of `pageCount` bits: set = the page is missing at the destination. */
  readonly runs: Uint8Array;
}

export const postcopyMissing: MessageCodec<PostcopyMissing> = {
  preencode: (m) => 12 + m.runs.byteLength,
  encode(m, c) {
    c.setU16(m.region);
    c.setU16(0);
    c.setU32(m.firstPage);
    c.setU32(m.pageCount);
    c.setRaw(m.runs);
  },
  decode(c) {
    const region = c.u16();
    c.zero(2, 'POSTCOPY_MISSING reserved');
    const firstPage = c.u32();
    const pageCount = c.u32();
    if (pageCount === 0 || pageCount > MAX_MISSING_PAGES_PER_MESSAGE) {
      throw new ProtocolError(
        ErrorCode.FRAME_MALFORMED,
        `POSTCOPY_MISSING covers ${pageCount} pages (1..${MAX_MISSING_PAGES_PER_MESSAGE})`,
      );
    }
    const runs = c.raw(c.remaining, 'missing-page runs');
    return { region, firstPage, pageCount, runs };
  },
};

export interface PageRequest {
  readonly region: number;
  readonly page: number;
  /** Pages from `page` on (1 .. 1024). */
  readonly count: number;
}

export const pageRequest: MessageCodec<PageRequest> = {
  preencode: () => 12,
  encode(m, c) {
    c.setU16(m.region);
    c.setU16(0);
    c.setU32(m.page);
    c.setU32(m.count);
  },
  decode(c) {
    const region = c.u16();
    c.zero(2, 'PAGE_REQUEST reserved');
    const page = c.u32();
    const count = c.u32();
    c.done('PAGE_REQUEST');
    if (count === 0 || count > MAX_PAGES_PER_REQUEST) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `PAGE_REQUEST for ${count} pages (1..${MAX_PAGES_PER_REQUEST})`);
    }
    return { region, page, count };
  },
};

export interface PostcopyDone {
  /** The digest of the memory as received (protocol §4), equal to COMPLETE's. */
  readonly digest: bigint;
}

export const postcopyDone: MessageCodec<PostcopyDone> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.digest);
  },
  decode(c) {
    const digest = c.u64();
    c.done('POSTCOPY_DONE');
    return { digest };
  },
};

export interface RecoverEnd {
  /** Pages the destination still lacks, over all RECOVER_MISSING messages (a check). */
  readonly missingPages: number;
}

export const recoverEnd: MessageCodec<RecoverEnd> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.missingPages);
  },
  decode(c) {
    const missingPages = c.u53('missing pages');
    c.done('RECOVER_END');
    return { missingPages };
  },
};
