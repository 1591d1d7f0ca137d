import { type Kernels, PageEncoding } from '@ferry/engine';
import { compressSync, uncompressSync } from 'lz4-napi';
import { Reader, Writer } from './bytes.ts';

/** One page of a PAGES batch as the kit sends it (§3.2). */
export interface PageEntry {
  readonly page: number;
  readonly encoding: number;
  /** The payload as sent. */
  readonly payload: Uint8Array;
  /** xxh64 of the decoded page. */
  readonly checksum: bigint;
}

/** Builds one entry of `content` (the page's decoded bytes) in `encoding`; `base` is what the receiver holds (XBZRLE). */
export function encodePage(
  k: Kernels,
  page: number,
  content: Uint8Array,
  encoding: number,
  ref?: { region: number; page: number },
  base?: Uint8Array,
): PageEntry {
  const checksum = k.xxh64(content);
  switch (encoding) {
    case PageEncoding.RAW:
      return { page, encoding, payload: content, checksum };
    case PageEncoding.ZERO:
      return { page, encoding, payload: new Uint8Array(0), checksum };
    case PageEncoding.LZ4:
      return { page, encoding, payload: compressSync(Buffer.from(content)), checksum };
    case PageEncoding.XBZRLE: {
      const out = new Uint8Array(content.byteLength - 1);
      const n = k.xbzrleEncode(base ?? new Uint8Array(content.byteLength), content, out);
      if (n < 0) throw new Error(`page ${page}: no XBZRLE delta shorter than a page`);
      return { page, encoding, payload: out.subarray(0, n), checksum };
    }
    case PageEncoding.DEDUP: {
      if (!ref) throw new Error('DEDUP needs a reference');
      return { page, encoding, payload: new Writer().u16(ref.region).u16(0).u32(ref.page).bytes(), checksum };
    }
    default:
      throw new Error(`unknown encoding ${encoding}`);
  }
}

/** The body of a PAGES message: batch header, entry table, payloads. */
export function pagesBody(region: number, round: number, entries: readonly PageEntry[]): Buffer {
  const w = new Writer().u16(region).u16(0).u32(round).u32(entries.length);
  for (const e of entries) w.u32(e.page).u8(e.encoding).u8(0).u16(0).u32(e.payload.byteLength).u64(e.checksum);
  for (const e of entries) w.raw(e.payload);
  return w.bytes();
}

export interface DecodedBatch {
  readonly region: number;
  readonly round: number;
  readonly pages: { readonly page: number; readonly encoding: number; readonly content: Uint8Array }[];
}

/**
 * Decodes and checks a whole batch against `memory` (the receiver's regions) before anything
 * is written, as §3.2 requires of a receiver; throws a message naming the first fault.
 */
export function decodePages(k: Kernels, body: Uint8Array, memory: readonly Uint8Array[], pageSize: number): DecodedBatch {
  const r = new Reader(body);
  const region = r.u16();
  if (r.u16() !== 0) throw new Error('PAGES reserved field is not 0');
  const round = r.u32();
  const count = r.u32();
  const mem = memory[region];
  if (!mem) throw new Error(`PAGES names region ${region}; the guest has ${memory.length}`);
  const entries: { page: number; encoding: number; length: number; checksum: bigint }[] = [];
  for (let i = 0; i < count; i++) {
    const page = r.u32();
    const encoding = r.u8();
    if (r.u8() !== 0 || r.u16() !== 0) throw new Error('page entry reserved bytes are not 0');
    entries.push({ page, encoding, length: r.u32(), checksum: r.u64() });
  }
  const pages: DecodedBatch['pages'] = [];
  const pagesInRegion = mem.byteLength / pageSize;
  for (const e of entries) {
    if (e.page >= pagesInRegion) throw new Error(`page ${e.page} is past region ${region}'s ${pagesInRegion} pages`);
    const payload = r.raw(e.length, 'payload');
    const held = mem.subarray(e.page * pageSize, (e.page + 1) * pageSize);
    let content: Uint8Array;
    switch (e.encoding) {
      case PageEncoding.RAW:
        if (e.length !== pageSize) throw new Error(`RAW page of ${e.length} bytes`);
        content = payload;
        break;
      case PageEncoding.ZERO:
        if (e.length !== 0) throw new Error(`ZERO page with ${e.length} payload bytes`);
        content = new Uint8Array(pageSize);
        break;
      case PageEncoding.LZ4:
        content = uncompressSync(Buffer.from(payload));
        if (content.byteLength !== pageSize) throw new Error(`LZ4 page decodes to ${content.byteLength} bytes`);
        break;
      case PageEncoding.XBZRLE:
        content = Uint8Array.from(held);
        k.xbzrleDecode(payload, content);
        break;
      case PageEncoding.DEDUP: {
        const d = new Reader(payload);
        const rr = d.u16();
        d.u16();
        const rp = d.u32();
        const src = memory[rr];
        if (!src || (rp + 1) * pageSize > src.byteLength) throw new Error(`DEDUP names page ${rr}:${rp}, outside the guest`);
        content = Uint8Array.from(src.subarray(rp * pageSize, (rp + 1) * pageSize));
        break;
      }
      default:
        throw new Error(`unknown page encoding ${e.encoding}`);
    }
    const sum = k.xxh64(content);
    if (sum !== e.checksum) throw new Error(`page ${region}:${e.page} fails its checksum`);
    pages.push({ page: e.page, encoding: e.encoding, content: Uint8Array.from(content) });
  }
  r.done('PAGES');
  return { region, round, pages };
}
