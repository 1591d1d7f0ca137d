import { compressSync, uncompressSync } from 'lz4-napi';
import { ErrorCode, IntegrityError } from '../errors.ts';
import { LZ4_SIZE_PREFIX_BYTES } from '../protocol/limits.ts';

/**
 * LZ4 for single pages through lz4-napi (lz4_flex's block format with the decoded size
 * prepended as a u32). Decoding checks the prefix before lz4-napi sizes its output from it,
 * so a hostile prefix cannot make the destination allocate more than a page.
 */
export function lz4CompressPage(page: Uint8Array): Buffer {
  return compressSync(Buffer.from(page.buffer, page.byteOffset, page.byteLength));
}

export function lz4DecompressPage(payload: Uint8Array, pageSize: number): Buffer {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const declared = payload.byteLength >= LZ4_SIZE_PREFIX_BYTES ? view.getUint32(0, true) : -1;
  if (declared !== pageSize) {
    throw new IntegrityError(ErrorCode.DECODE_FAILED, `LZ4 page declares ${declared} decoded bytes, page size is ${pageSize}`);
  }
  let out: Buffer;
  try {
    out = uncompressSync(payload);
  } catch (err) {
    throw new IntegrityError(ErrorCode.DECODE_FAILED, `LZ4 block does not decode: ${(err as Error).message}`, { cause: err });
  }
  if (out.byteLength !== pageSize) {
    throw new IntegrityError(ErrorCode.DECODE_FAILED, `LZ4 block decoded to ${out.byteLength} bytes, page size is ${pageSize}`);
  }
  return out;
}
