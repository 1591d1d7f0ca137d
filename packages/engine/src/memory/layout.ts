import { ErrorCode, UsageError } from '../errors.ts';
import type { RegionDescriptor } from '../protocol/messages.ts';
import { MAX_PAGE_SIZE, MAX_PAGES_PER_REGION, MAX_REGIONS, MIN_PAGE_SIZE } from '../protocol/limits.ts';

/** The shape of a guest's memory: what the handshake compares before any page moves. */
export interface MemoryLayout {
  readonly pageSize: number;
  readonly regions: readonly RegionDescriptor[];
}

export const DEFAULT_PAGE_SIZE = 4096;

/** Throws a UsageError naming the first thing wrong with `layout`; returns it otherwise. */
export function checkLayout(layout: MemoryLayout): MemoryLayout {
  const { pageSize, regions } = layout;
  if (!Number.isInteger(pageSize) || pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) {
    throw new UsageError(ErrorCode.INVALID_ARGUMENT, `page size ${pageSize} is not a power of two in ${MIN_PAGE_SIZE}..${MAX_PAGE_SIZE}`);
  }
  if (regions.length === 0 || regions.length > MAX_REGIONS) {
    throw new UsageError(ErrorCode.INVALID_ARGUMENT, `a guest has 1..${MAX_REGIONS} regions, got ${regions.length}`);
  }
  const names = new Set<string>();
  for (const r of regions) {
    if (names.has(r.name)) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `region name "${r.name}" is used twice`);
    names.add(r.name);
    if (!Number.isSafeInteger(r.sizeBytes) || r.sizeBytes <= 0 || r.sizeBytes % pageSize !== 0) {
      throw new UsageError(
        ErrorCode.INVALID_ARGUMENT,
        `region "${r.name}" size ${r.sizeBytes} is not a positive multiple of the page size ${pageSize}`,
      );
    }
    if (r.sizeBytes / pageSize > MAX_PAGES_PER_REGION) {
      throw new UsageError(ErrorCode.INVALID_ARGUMENT, `region "${r.name}" has more than ${MAX_PAGES_PER_REGION} pages`);
    }
  }
  return layout;
}

/** Why two layouts differ, or undefined when a guest of one fits memory of the other. */
export function layoutMismatch(expected: MemoryLayout, offered: MemoryLayout): string | undefined {
  if (expected.pageSize !== offered.pageSize) {
    return `page size ${offered.pageSize} offered, ${expected.pageSize} required`;
  }
  if (expected.regions.length !== offered.regions.length) {
    return `${offered.regions.length} regions offered, ${expected.regions.length} required`;
  }
  for (let i = 0; i < expected.regions.length; i++) {
    const e = expected.regions[i]!;
    const o = offered.regions[i]!;
    if (e.name !== o.name) return `region ${i} is "${o.name}", "${e.name}" required`;
    if (e.sizeBytes !== o.sizeBytes) return `region "${e.name}" is ${o.sizeBytes} bytes, ${e.sizeBytes} required`;
  }
  return undefined;
}

export function totalBytes(layout: MemoryLayout): number {
  let n = 0;
  for (const r of layout.regions) n += r.sizeBytes;
  return n;
}
