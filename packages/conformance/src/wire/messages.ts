import { Intent, MAGIC } from '@ferry/engine';
import { Reader, Writer } from './bytes.ts';

/** One region of the guest as HELLO names it. */
export interface Region {
  readonly name: string;
  readonly sizeBytes: number;
}

/** A HELLO (§3.1); every field may be bent by a scenario. */
export interface Hello {
  readonly magic?: Uint8Array;
  readonly versionMin: number;
  readonly versionMax: number;
  readonly intent?: number;
  readonly sessionId: Uint8Array;
  readonly pageSize: number;
  readonly features: number;
  readonly guestId?: string;
  readonly regions: readonly Region[];
}

export function helloBody(h: Hello): Buffer {
  const w = new Writer()
    .raw(h.magic ?? MAGIC)
    .u16(h.versionMin)
    .u16(h.versionMax)
    .u8(h.intent ?? Intent.MIGRATE)
    .u8(0)
    .u16(0)
    .raw(h.sessionId)
    .u32(h.pageSize)
    .u32(h.features)
    .str(h.guestId ?? 'conformance')
    .u16(h.regions.length);
  for (const r of h.regions) w.str(r.name).u64(r.sizeBytes);
  return w.bytes();
}

export function parseHello(body: Uint8Array): Hello & { readonly intent: number; readonly guestId: string; readonly magic: Uint8Array } {
  const r = new Reader(body);
  const magic = Uint8Array.from(r.raw(8, 'magic'));
  const versionMin = r.u16();
  const versionMax = r.u16();
  const intent = r.u8();
  if (r.u8() !== 0 || r.u16() !== 0) throw new Error('HELLO reserved bytes are not 0');
  const sessionId = Uint8Array.from(r.raw(16, 'session id'));
  const pageSize = r.u32();
  const features = r.u32();
  const guestId = r.str('guest id');
  const count = r.u16();
  const regions: Region[] = [];
  for (let i = 0; i < count; i++) regions.push({ name: r.str('region name'), sizeBytes: Number(r.u64()) });
  r.done('HELLO');
  return { magic, versionMin, versionMax, intent, sessionId, pageSize, features, guestId, regions };
}

/** HELLO_ACCEPT: 8 bytes up to version 3, 16 from version 4 (acceptedFeatures, encodings). */
export interface Accept {
  readonly version: number;
  readonly maxFrameBodyBytes: number;
  readonly acceptedFeatures?: number;
  readonly encodings?: number;
}

export function acceptBody(a: Accept): Buffer {
  const w = new Writer().u16(a.version).u16(0).u32(a.maxFrameBodyBytes);
  if (a.acceptedFeatures !== undefined || a.encodings !== undefined) w.u32(a.acceptedFeatures ?? 0).u32(a.encodings ?? 0);
  return w.bytes();
}

/** Decodes HELLO_ACCEPT by its version first (v4 design: 16 bytes when version >= 4). */
export function parseAccept(body: Uint8Array): Accept & { readonly bodyBytes: number } {
  const r = new Reader(body);
  const version = r.u16();
  if (r.u16() !== 0) throw new Error('HELLO_ACCEPT reserved field is not 0');
  const maxFrameBodyBytes = r.u32();
  if (version >= 4) {
    const acceptedFeatures = r.u32();
    const encodings = r.u32();
    r.done('HELLO_ACCEPT (version 4)');
    return { version, maxFrameBodyBytes, acceptedFeatures, encodings, bodyBytes: body.byteLength };
  }
  r.done('HELLO_ACCEPT');
  return { version, maxFrameBodyBytes, bodyBytes: body.byteLength };
}

export interface ErrorReport {
  readonly code: string;
  readonly message: string;
}
export function reportBody(code: string, message: string): Buffer {
  return new Writer().str(code).str(message).bytes();
}
export function parseReport(body: Uint8Array): ErrorReport {
  const r = new Reader(body);
  const code = r.str('code');
  const message = r.str('message');
  r.done('error report');
  return { code, message };
}

export const u32Body = (v: number): Buffer => new Writer().u32(v).bytes();
export const u64Body = (v: number | bigint): Buffer => new Writer().u64(v).bytes();
export const roundEndBody = (round: number, pages: number): Buffer => new Writer().u32(round).u32(pages).bytes();
export const completeBody = (digest: bigint, totalPages: number, finalRound: number): Buffer =>
  new Writer().u64(digest).u64(totalPages).u32(finalRound).bytes();
export const deviceStateBody = (total: number, offset: number, bytes: Uint8Array): Buffer =>
  new Writer().u64(total).u64(offset).raw(bytes).bytes();
export const roundAckBody = (round: number, pages: number, bytes: number): Buffer => new Writer().u32(round).u32(pages).u64(bytes).bytes();
export const resumedBody = (): Buffer => new Writer().u32(0).u32(0).bytes();

export function parseRoundAck(body: Uint8Array): { round: number; pages: number; bytes: bigint } {
  const r = new Reader(body);
  const v = { round: r.u32(), pages: r.u32(), bytes: r.u64() };
  r.done('ROUND_ACK');
  return v;
}
export function parseU64(body: Uint8Array, what: string): bigint {
  const r = new Reader(body);
  const v = r.u64(what);
  r.done(what);
  return v;
}
export function parseRoundEnd(body: Uint8Array): { round: number; pages: number } {
  const r = new Reader(body);
  const v = { round: r.u32(), pages: r.u32() };
  r.done('ROUND_END');
  return v;
}
export function parseComplete(body: Uint8Array): { digest: bigint; totalPages: bigint; finalRound: number } {
  const r = new Reader(body);
  const v = { digest: r.u64(), totalPages: r.u64(), finalRound: r.u32() };
  r.done('COMPLETE');
  return v;
}
export function parseDeviceState(body: Uint8Array): { total: bigint; offset: bigint; bytes: Uint8Array } {
  const r = new Reader(body);
  return { total: r.u64(), offset: r.u64(), bytes: r.raw(r.remaining) };
}

/** RECOVER_MISSING / POSTCOPY_MISSING: region, first page, count, run-length bitmap (ULEB128 runs, clear first). */
export function parseMissing(body: Uint8Array): { region: number; firstPage: number; pages: number[] } {
  const r = new Reader(body);
  const region = r.u16();
  r.u16();
  const firstPage = r.u32();
  const count = r.u32();
  const pages: number[] = [];
  let at = 0;
  let set = false;
  while (r.remaining > 0) {
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = r.u8('run length');
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    if (set) for (let i = 0; i < len; i++) pages.push(firstPage + at + i);
    at += len;
    set = !set;
  }
  if (at !== count) throw new Error(`missing-page bitmap covers ${at} pages, the message says ${count}`);
  return { region, firstPage, pages };
}

function uleb(w: Writer, n: number): void {
  let v = n;
  do {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    w.u8(v > 0 ? b | 0x80 : b);
  } while (v > 0);
}

/** POSTCOPY_MISSING: pages `missing` (sorted, within firstPage .. firstPage + count − 1) as set bits of a run-length bitmap. */
export function missingBody(region: number, firstPage: number, count: number, missing: readonly number[]): Buffer {
  const w = new Writer().u16(region).u16(0).u32(firstPage).u32(count);
  let at = firstPage;
  for (let i = 0; i < missing.length; ) {
    let j = i;
    while (j + 1 < missing.length && missing[j + 1] === missing[j]! + 1) j++;
    uleb(w, missing[i]! - at);
    uleb(w, j - i + 1);
    at = missing[j]! + 1;
    i = j + 1;
  }
  if (at < firstPage + count) uleb(w, firstPage + count - at);
  return w.bytes();
}
