/**
 * Where the key-value guest keeps things in its one memory region. Everything the store knows
 * lives here; the only state outside memory is the guest's registers (see registers.ts).
 *
 *   page 0            superblock: magic, version, the offsets below
 *   stats             16 pages of u32 counters the background churn bumps
 *   log               a 1 MiB ring of 32-byte records the churn appends to
 *   table             open-addressing hash table: 65536 slots of { u32 hash, u32 record offset }
 *   heap              records { u32 hash, u16 key bytes, u16 value bytes, key, value }, bump-allocated
 *   data              the rest: "page cache" the guest fills at boot and the churn keeps rewriting
 */

export const PAGE_SIZE = 4096;
export const MiB = 1024 * 1024;
export const MIN_MEMORY_MIB = 16;
/** Offsets are u32. */
export const MAX_MEMORY_MIB = 4095;

const SUPERBLOCK_MAGIC = 0x4b59_5246; // "FRYK" little-endian
const SUPERBLOCK_VERSION = 1;
const STATS_PAGES = 16;
const LOG_BYTES = 1 * MiB;
export const TABLE_SLOTS = 1 << 16;
export const SLOT_BYTES = 8;
export const LOG_RECORD_BYTES = 32;
const MIN_HEAP_BYTES = 4 * MiB;

export interface KvLayout {
  readonly memoryBytes: number;
  readonly statsOffset: number;
  readonly statsCounters: number;
  readonly logOffset: number;
  readonly logBytes: number;
  readonly tableOffset: number;
  readonly tableSlots: number;
  readonly heapOffset: number;
  readonly heapBytes: number;
  readonly dataOffset: number;
  readonly dataPages: number;
}

/** The layout for a guest of `memoryBytes` (a whole number of MiB). */
export function kvLayout(memoryBytes: number): KvLayout {
  const statsOffset = PAGE_SIZE;
  const logOffset = statsOffset + STATS_PAGES * PAGE_SIZE;
  const tableOffset = logOffset + LOG_BYTES;
  const heapOffset = tableOffset + TABLE_SLOTS * SLOT_BYTES;
  const heapBytes = Math.max(MIN_HEAP_BYTES, Math.floor(memoryBytes / 8 / PAGE_SIZE) * PAGE_SIZE);
  const dataOffset = heapOffset + heapBytes;
  if (dataOffset >= memoryBytes) throw new Error(`a guest needs more than ${memoryBytes} bytes of memory`);
  return {
    memoryBytes,
    statsOffset,
    statsCounters: (STATS_PAGES * PAGE_SIZE) / 4,
    logOffset,
    logBytes: LOG_BYTES,
    tableOffset,
    tableSlots: TABLE_SLOTS,
    heapOffset,
    heapBytes,
    dataOffset,
    dataPages: (memoryBytes - dataOffset) / PAGE_SIZE,
  };
}

const SUPERBLOCK_FIELDS = [
  'memoryBytes',
  'statsOffset',
  'logOffset',
  'tableOffset',
  'tableSlots',
  'heapOffset',
  'heapBytes',
  'dataOffset',
] as const;

/** Writes the superblock into page 0; returns the bytes written (for the write barrier). */
export function writeSuperblock(view: DataView, layout: KvLayout): number {
  view.setUint32(0, SUPERBLOCK_MAGIC, true);
  view.setUint32(4, SUPERBLOCK_VERSION, true);
  SUPERBLOCK_FIELDS.forEach((field, i) => {
    view.setUint32(8 + i * 4, layout[field], true);
  });
  return 8 + SUPERBLOCK_FIELDS.length * 4;
}

/**
 * Reads the superblock of memory that a guest formatted (here or on another host) and checks
 * it describes `memoryBytes` of memory. Throws when it does not: the memory is not a guest's.
 */
export function readSuperblock(view: DataView, memoryBytes: number): KvLayout {
  if (view.getUint32(0, true) !== SUPERBLOCK_MAGIC) {
    throw new Error(`no key-value guest superblock in memory (magic 0x${view.getUint32(0, true).toString(16)})`);
  }
  if (view.getUint32(4, true) !== SUPERBLOCK_VERSION)
    throw new Error(`superblock version ${view.getUint32(4, true)} is not ${SUPERBLOCK_VERSION}`);
  const expected = kvLayout(memoryBytes);
  SUPERBLOCK_FIELDS.forEach((field, i) => {
    const value = view.getUint32(8 + i * 4, true);
    if (value !== expected[field]) throw new Error(`superblock says ${field} = ${value}, expected ${expected[field]}`);
  });
  return expected;
}
