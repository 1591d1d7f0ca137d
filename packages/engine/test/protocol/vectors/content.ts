/**
 * Page contents as the golden vectors (packages/conformance/vectors/*.json) describe them, so an
 * implementation in any language can rebuild a page from a few words instead of 4096 bytes of hex:
 * - `{ "fill": "5a" }`: every byte 0x5a;
 * - `{ "ramp": s }`: byte i is (s + i) mod 256;
 * - either, with `"set": { "offset": "ab", … }`: those bytes replaced afterwards.
 * A page not described is zero.
 */
export interface PageContent {
  readonly fill?: string;
  readonly ramp?: number;
  readonly set?: Readonly<Record<string, string>>;
}

/** One described page of a guest. */
export interface DescribedPage {
  readonly region: number;
  readonly page: number;
  readonly content: PageContent;
}

/** The bytes of a page of `pageSize` bytes described by `content`. */
export function pageBytes(content: PageContent, pageSize: number): Buffer {
  const page = Buffer.alloc(pageSize, content.fill === undefined ? 0 : Number.parseInt(content.fill, 16));
  if (content.ramp !== undefined) for (let i = 0; i < pageSize; i++) page[i] = (content.ramp + i) & 0xff;
  for (const [offset, byte] of Object.entries(content.set ?? {})) page[Number(offset)] = Number.parseInt(byte, 16);
  return page;
}

/** JSON for a decoded message: bigints as 0x-prefixed 16-digit hex, byte arrays as hex, the rest as is. */
export function toJson(value: unknown): unknown {
  if (typeof value === 'bigint') return `0x${value.toString(16).padStart(16, '0')}`;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

/** The inverse of `toJson` for one field: "0x…" back to a bigint, other hex strings to bytes when `bytes` names the field. */
export function fromJson(value: unknown, bytes: ReadonlySet<string>, key = ''): unknown {
  if (typeof value === 'string' && value.startsWith('0x')) return BigInt(value);
  if (typeof value === 'string' && bytes.has(key)) return new Uint8Array(Buffer.from(value, 'hex'));
  if (Array.isArray(value)) return value.map((v) => fromJson(v, bytes, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v, bytes, k)]));
  }
  return value;
}

/** Fields that hold bytes (hex in JSON) rather than text. */
export const BYTE_FIELDS: ReadonlySet<string> = new Set(['sessionId', 'nonce', 'mac', 'runs', 'data']);
