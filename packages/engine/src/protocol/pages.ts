import { ErrorCode, ProtocolError } from '../errors.ts';
import { PageEncoding } from './constants.ts';
import { Cursor } from './cursor.ts';
import {
  DEDUP_PAYLOAD_BYTES,
  FRAME_HEADER_BYTES,
  LZ4_SIZE_PREFIX_BYTES,
  MAX_BATCH_DECODED_BYTES,
  PAGE_ENTRY_BYTES,
  PAGES_HEADER_BYTES,
} from './limits.ts';

/**
 * PAGES, the hot message. Layout of the body (little-endian):
 *
 *   u16 region | u16 reserved | u32 round | u32 count
 *   count x entry { u32 pageIndex | u8 encoding | u8 reserved | u16 reserved | u32 length | u64 xxh64 }
 *   payloads of the entries, in entry order, back to back
 *
 * Entries come first and payloads after so that all RAW payloads of a batch are one contiguous
 * run: the sender hashes the whole run in one native call and the receiver verifies it the same
 * way. Nothing here allocates per page.
 */

/** Body bytes of a batch of `count` entries carrying `payloadBytes` of payload. */
export function pagesBodyBytes(count: number, payloadBytes: number): number {
  return PAGES_HEADER_BYTES + count * PAGE_ENTRY_BYTES + payloadBytes;
}

/** Where the entry table of a batch starts inside its frame. */
export const PAGES_ENTRIES_OFFSET: number = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES;

/** Writes the fixed part of a PAGES body at `offset` in `view`. */
export function writePagesHeader(view: DataView, offset: number, regionIndex: number, round: number, count: number): void {
  view.setUint16(offset, regionIndex, true);
  view.setUint16(offset + 2, 0, true);
  view.setUint32(offset + 4, round, true);
  view.setUint32(offset + 8, count, true);
}

/**
 * Writes entry `i` of a batch whose entry table starts at `entriesOffset` in `view`. The
 * checksum comes as its two 32-bit halves (low first), as the encoder holds hashes, so no
 * BigInt is made per page.
 */
export function writePageEntry(
  view: DataView,
  entriesOffset: number,
  i: number,
  pageIndex: number,
  encoding: PageEncoding,
  length: number,
  checksumLow: number,
  checksumHigh: number,
): void {
  const at = entriesOffset + i * PAGE_ENTRY_BYTES;
  view.setUint32(at, pageIndex, true);
  view.setUint32(at + 4, encoding, true);
  view.setUint32(at + 8, length, true);
  view.setUint32(at + 12, checksumLow, true);
  view.setUint32(at + 16, checksumHigh, true);
}

/**
 * A decoded, validated view of a PAGES body. Accessors read the entry table in place; `payload`
 * is a view of the payload run. Construction checks every entry, so users need not.
 */
export class PageBatch {
  readonly regionIndex: number;
  readonly round: number;
  readonly count: number;
  /** The payloads back to back, in entry order. */
  readonly payload: Uint8Array;
  /** Every entry is RAW or ZERO: the payload is whole pages back to back, hashable in one pass. */
  readonly plain: boolean;
  /** The encodings the entries use, bit `1 << encoding` each (checked against HELLO_ACCEPT's in version 4). */
  readonly encodings: number;
  private readonly view: DataView;
  private readonly entriesOffset: number;

  constructor(body: Uint8Array, pageSize: number) {
    const c = new Cursor(body);
    this.regionIndex = c.u16();
    c.zero(2, 'PAGES reserved');
    this.round = c.u32();
    this.count = c.u32();
    // Before anything is read or set aside for it: what the batch may decode to is bounded.
    if (this.count * pageSize > MAX_BATCH_DECODED_BYTES) {
      throw new ProtocolError(
        ErrorCode.FRAME_TOO_LARGE,
        `PAGES batch of ${this.count} entries would decode to ${this.count * pageSize} bytes, limit ${MAX_BATCH_DECODED_BYTES}`,
      );
    }
    this.entriesOffset = c.offset;
    const tableBytes = this.count * PAGE_ENTRY_BYTES;
    c.need(tableBytes, 'PAGES entry table');
    this.view = c.view;
    let payloadBytes = 0;
    let plain = true;
    let encodings = 0;
    for (let i = 0; i < this.count; i++) {
      const at = this.entriesOffset + i * PAGE_ENTRY_BYTES;
      const encodingWord = this.view.getUint32(at + 4, true);
      const length = this.view.getUint32(at + 8, true);
      const problem = lengthProblem(encodingWord, length, pageSize);
      if (problem) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `page entry ${i}: ${problem}`);
      if (encodingWord !== PageEncoding.RAW && encodingWord !== PageEncoding.ZERO) plain = false;
      encodings |= 1 << encodingWord;
      payloadBytes += length;
    }
    c.offset += tableBytes;
    if (payloadBytes !== c.remaining) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `PAGES payload is ${c.remaining} bytes, entries declare ${payloadBytes}`);
    }
    this.payload = c.raw(payloadBytes, 'PAGES payload');
    this.plain = plain;
    this.encodings = encodings;
  }

  pageIndex(i: number): number {
    return this.view.getUint32(this.entriesOffset + i * PAGE_ENTRY_BYTES, true);
  }
  encoding(i: number): PageEncoding {
    return this.view.getUint8(this.entriesOffset + i * PAGE_ENTRY_BYTES + 4) as PageEncoding;
  }
  length(i: number): number {
    return this.view.getUint32(this.entriesOffset + i * PAGE_ENTRY_BYTES + 8, true);
  }
  checksum(i: number): bigint {
    return this.view.getBigUint64(this.entriesOffset + i * PAGE_ENTRY_BYTES + 12, true);
  }
  /** The checksum's low and high 32 bits, for comparing without making a BigInt. */
  checksumLow(i: number): number {
    return this.view.getUint32(this.entriesOffset + i * PAGE_ENTRY_BYTES + 12, true);
  }
  checksumHigh(i: number): number {
    return this.view.getUint32(this.entriesOffset + i * PAGE_ENTRY_BYTES + 16, true);
  }
}

/** Why `length` is not allowed for an entry of `encodingWord` (the u32 holding the encoding and its reserved bytes). */
function lengthProblem(encodingWord: number, length: number, pageSize: number): string | undefined {
  switch (encodingWord) {
    case PageEncoding.RAW:
      return length === pageSize ? undefined : `RAW length ${length}, page size is ${pageSize}`;
    case PageEncoding.ZERO:
      return length === 0 ? undefined : `ZERO length ${length}`;
    case PageEncoding.LZ4:
      return length > LZ4_SIZE_PREFIX_BYTES && length < pageSize
        ? undefined
        : `LZ4 length ${length} outside ${LZ4_SIZE_PREFIX_BYTES + 1}..${pageSize - 1}`;
    case PageEncoding.XBZRLE:
      return length < pageSize ? undefined : `XBZRLE length ${length} is not below the page size ${pageSize}`;
    case PageEncoding.DEDUP:
      return length === DEDUP_PAYLOAD_BYTES ? undefined : `DEDUP length ${length}, must be ${DEDUP_PAYLOAD_BYTES}`;
    default:
      return `unknown encoding word 0x${encodingWord.toString(16)}`;
  }
}
