// PAGES vectors (encodings.json): one tiny guest, the receiver's memory before, a batch, and what it holds after (or the error).
import type { Kernels } from '../../../src/accel/kernels.ts';
import { lz4CompressPage } from '../../../src/codec/lz4.ts';
import { MessageType, PageEncoding } from '../../../src/protocol/constants.ts';
import { FRAME_HEADER_BYTES, PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from '../../../src/protocol/limits.ts';
import { writePageEntry, writePagesHeader } from '../../../src/protocol/pages.ts';
import { writeFrameHeader } from '../../../src/protocol/frame.ts';
import { type DescribedPage, type PageContent, pageBytes } from './content.ts';

export const PAGE_SIZE = 4096;
/** The receiver's guest for every PAGES vector: two regions, 4 and 2 pages of 4 KiB. */
export const GUEST = {
  pageSize: PAGE_SIZE,
  regions: [
    { name: 'ram0', sizeBytes: 4 * PAGE_SIZE },
    { name: 'ram1', sizeBytes: 2 * PAGE_SIZE },
  ],
};
/** What the receiver holds before each batch (received earlier in the session); every other page is zero and never received. */
export const BEFORE: readonly DescribedPage[] = [
  { region: 0, page: 0, content: { ramp: 0 } },
  { region: 0, page: 2, content: { fill: '11' } },
];

/** One entry of a batch as a vector states it: the page, its encoding, its payload, and the content it decodes to. */
export interface EntrySpec {
  readonly page: number;
  readonly encoding: PageEncoding;
  readonly payload: Uint8Array;
  /** xxh64 of the decoded content (what the entry's checksum field carries). */
  readonly checksum: bigint;
}

/** A whole PAGES frame: header, entry table, payloads (entries' checksums as given, right or wrong). */
export function pagesFrame(region: number, round: number, entries: readonly EntrySpec[]): Buffer {
  const payloadBytes = entries.reduce((n, e) => n + e.payload.byteLength, 0);
  const body = PAGES_HEADER_BYTES + entries.length * PAGE_ENTRY_BYTES + payloadBytes;
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + body);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  writeFrameHeader(view, 0, MessageType.PAGES, body);
  writePagesHeader(view, FRAME_HEADER_BYTES, region, round, entries.length);
  const table = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES;
  let at = table + entries.length * PAGE_ENTRY_BYTES;
  entries.forEach((e, i) => {
    const low = Number(e.checksum & 0xffff_ffffn);
    const high = Number(e.checksum >> 32n);
    writePageEntry(view, table, i, e.page, e.encoding, e.payload.byteLength, low, high);
    frame.set(e.payload, at);
    at += e.payload.byteLength;
  });
  return frame;
}

export interface PagesVector {
  readonly name: string;
  readonly section: string;
  readonly hex: string;
  /** Decoded batch: region, round and each entry. */
  readonly fields: unknown;
  /** The receiver's pages after the batch (only the pages the batch names), or absent with `error`. */
  readonly after?: readonly DescribedPage[];
  readonly afterXxh64?: readonly string[];
  readonly error?: string;
  /** Stated by the spec, not yet done by the engine: why. */
  readonly pending?: string;
  /** Version 4: the encodings the receiver announced in HELLO_ACCEPT (bit `1 << encoding`); absent: all. */
  readonly announced?: number;
  /** Ferry's engine checks it from this version on. */
  readonly requires?: number;
}

const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

export function pagesVectors(kernels: Kernels): PagesVector[] {
  const bytes = (c: PageContent): Buffer => pageBytes(c, PAGE_SIZE);
  const hash = (c: PageContent): bigint => kernels.xxh64(bytes(c));
  const raw = (page: number, c: PageContent): EntrySpec => ({ page, encoding: PageEncoding.RAW, payload: bytes(c), checksum: hash(c) });
  const zero = (page: number): EntrySpec => ({ page, encoding: PageEncoding.ZERO, payload: new Uint8Array(0), checksum: hash({}) });
  const lz4 = (page: number, c: PageContent): EntrySpec => ({
    page,
    encoding: PageEncoding.LZ4,
    payload: lz4CompressPage(bytes(c)),
    checksum: hash(c),
  });
  const xbzrle = (page: number, base: PageContent, c: PageContent): EntrySpec => {
    const out = new Uint8Array(PAGE_SIZE);
    const n = kernels.xbzrleEncode(bytes(base), bytes(c), out);
    return { page, encoding: PageEncoding.XBZRLE, payload: out.subarray(0, n), checksum: hash(c) };
  };
  const dedup = (page: number, region: number, from: number, c: PageContent): EntrySpec => {
    const p = Buffer.alloc(8);
    p.writeUInt16LE(region, 0);
    p.writeUInt32LE(from, 4);
    return { page, encoding: PageEncoding.DEDUP, payload: p, checksum: hash(c) };
  };
  const fields = (region: number, round: number, entries: readonly EntrySpec[]) => ({
    region,
    round,
    entries: entries.map((e) => ({ page: e.page, encoding: e.encoding, length: e.payload.byteLength, checksum: hex64(e.checksum) })),
  });
  const ok = (name: string, region: number, round: number, entries: EntrySpec[], after: DescribedPage[]): PagesVector => ({
    name,
    section: '3.2',
    hex: pagesFrame(region, round, entries).toString('hex'),
    fields: fields(region, round, entries),
    after,
    afterXxh64: after.map((p) => hex64(hash(p.content))),
  });
  const bad = (name: string, region: number, entries: EntrySpec[], error: string): PagesVector => ({
    name,
    section: '3.2',
    hex: pagesFrame(region, 0, entries).toString('hex'),
    fields: fields(region, 0, entries),
    error,
  });
  const changed = { ramp: 0, set: { '0': 'ab', '2048': 'ab' } };
  return [
    ok('raw', 0, 0, [raw(1, { ramp: 7 })], [{ region: 0, page: 1, content: { ramp: 7 } }]),
    ok('zero', 0, 0, [zero(2)], [{ region: 0, page: 2, content: {} }]),
    ok(
      'raw-and-zero',
      1,
      0,
      [zero(0), raw(1, { fill: '5a' })],
      [
        { region: 1, page: 0, content: {} },
        { region: 1, page: 1, content: { fill: '5a' } },
      ],
    ),
    ok('lz4', 0, 1, [lz4(3, { ramp: 3 })], [{ region: 0, page: 3, content: { ramp: 3 } }]),
    ok('xbzrle', 0, 1, [xbzrle(0, { ramp: 0 }, changed)], [{ region: 0, page: 0, content: changed }]),
    ok('xbzrle-unchanged', 0, 1, [xbzrle(0, { ramp: 0 }, { ramp: 0 })], [{ region: 0, page: 0, content: { ramp: 0 } }]),
    ok('dedup', 1, 1, [dedup(1, 0, 2, { fill: '11' })], [{ region: 1, page: 1, content: { fill: '11' } }]),
    // A page never sent is zero, but no DEDUP source (§3.2): zero content goes as ZERO.
    bad('dedup-to-page-never-received', 0, [dedup(1, 1, 0, {})], 'FERRY_DECODE_FAILED'),
    bad('page-out-of-range', 0, [raw(4, { ramp: 1 })], 'FERRY_PAGE_OUT_OF_RANGE'),
    bad('region-out-of-range', 2, [zero(0)], 'FERRY_PAGE_OUT_OF_RANGE'),
    bad('checksum-mismatch', 0, [{ ...raw(1, { ramp: 7 }), checksum: hash({ ramp: 8 }) }], 'FERRY_CHECKSUM_MISMATCH'),
    bad('zero-with-wrong-checksum', 0, [{ ...zero(1), checksum: 1n }], 'FERRY_CHECKSUM_MISMATCH'),
    bad('raw-short', 0, [{ ...raw(1, { ramp: 7 }), payload: bytes({ ramp: 7 }).subarray(0, 4095) }], 'FERRY_FRAME_MALFORMED'),
    bad(
      'lz4-bad-size-prefix',
      0,
      [{ ...lz4(3, { ramp: 3 }), payload: withPrefix(lz4CompressPage(bytes({ ramp: 3 })), 8192) }],
      'FERRY_DECODE_FAILED',
    ),
    bad('lz4-bad-block', 0, [{ ...lz4(3, { ramp: 3 }), payload: Buffer.from('00100000ffffffffffff', 'hex') }], 'FERRY_DECODE_FAILED'),
    bad(
      'lz4-short-block',
      0,
      [
        {
          ...lz4(3, { ramp: 3 }),
          payload: lz4CompressPage(bytes({ ramp: 3 }).subarray(0, 2048))
            .fill(0x00, 0, 4)
            .fill(0x10, 1, 2),
        },
      ],
      'FERRY_DECODE_FAILED',
    ),
    bad(
      'xbzrle-run-past-page',
      0,
      [{ ...xbzrle(0, { ramp: 0 }, changed), payload: Buffer.from('ff1f02abab', 'hex') }],
      'FERRY_DECODE_FAILED',
    ),
    bad('xbzrle-truncated', 0, [{ ...xbzrle(0, { ramp: 0 }, changed), payload: Buffer.from('0005ab', 'hex') }], 'FERRY_DECODE_FAILED'),
    bad('dedup-to-page-out-of-range', 0, [dedup(1, 0, 9, {})], 'FERRY_DECODE_FAILED'),
    bad('unknown-encoding', 0, [{ ...zero(1), encoding: 0x06 as PageEncoding }], 'FERRY_FRAME_MALFORMED'),
    // Version 4: an encoding the receiver did not announce (it announced RAW and ZERO only).
    { ...bad('lz4-not-announced', 0, [lz4(3, { ramp: 3 })], 'FERRY_FRAME_MALFORMED'), section: '3.1.1', announced: 0x06, requires: 4 },
  ];
}

function withPrefix(payload: Buffer, declared: number): Buffer {
  const out = Buffer.from(payload);
  out.writeUInt32LE(declared, 0);
  return out;
}
