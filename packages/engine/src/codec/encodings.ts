/** Which page encodings a compression mode uses, given those the destination decodes; and their names in reports. */
import { encodingBit, PageEncoding } from '../protocol/constants.ts';

/**
 * How pages are encoded:
 * - `off`: RAW and ZERO only.
 * - `lz4`: every non-zero page LZ4-compressed when that makes it smaller.
 * - `xbzrle`: a delta against the cached copy when the page is cached and the delta is short.
 * - `adaptive`: ZERO, then DEDUP when the destination holds a page with the same content, then
 *   XBZRLE when cached, then LZ4 when the cost model (measured LZ4 speed, this batch's sampled
 *   ratio, the link rate) says it shortens delivery.
 */
export type CompressionMode = 'off' | 'lz4' | 'xbzrle' | 'adaptive';

/** An encoding's name in `CodecStats`. */
export type EncodingName = 'raw' | 'zero' | 'lz4' | 'xbzrle' | 'dedup';

/** The encodings `mode` chooses among, less those the destination does not decode (their pages go RAW). */
export function encodingsUsed(mode: CompressionMode, allowed: number): { lz4: boolean; xbzrle: boolean; dedup: boolean } {
  const decodes = (e: PageEncoding): boolean => (allowed & encodingBit(e)) !== 0;
  return {
    lz4: (mode === 'lz4' || mode === 'adaptive') && decodes(PageEncoding.LZ4),
    xbzrle: (mode === 'xbzrle' || mode === 'adaptive') && decodes(PageEncoding.XBZRLE),
    dedup: mode === 'adaptive' && decodes(PageEncoding.DEDUP),
  };
}

export const ENCODING_NAMES: Record<PageEncoding, EncodingName> = {
  [PageEncoding.RAW]: 'raw',
  [PageEncoding.ZERO]: 'zero',
  [PageEncoding.LZ4]: 'lz4',
  [PageEncoding.XBZRLE]: 'xbzrle',
  [PageEncoding.DEDUP]: 'dedup',
};

/** Names of the page encodings whose bit (`1 << encoding`) is set in `bits`, as the protocol names them (RAW, LZ4, ...). */
export function encodingNames(bits: number): string[] {
  return Object.entries(PageEncoding)
    .filter(([, e]) => (bits & encodingBit(e)) !== 0)
    .map(([name]) => name);
}
