import type { WriteBarrier } from '@ferry/engine/guest';
import { type KvLayout, SLOT_BYTES } from './layout.ts';
import type { Registers } from './registers.ts';

/** The region the store lives in (the guest has one). */
const REGION = 0;
const RECORD_HEADER_BYTES = 8;
/** Refuse new keys beyond this load factor: open addressing slows down sharply after it. */
const MAX_LOAD = 0.75;

/**
 * A hash map kept entirely in guest memory: an open-addressing table of { hash, record offset }
 * slots over a bump-allocated heap of records. A SET appends a new record and repoints the slot
 * (the old record becomes garbage; the demo's heap outlasts its run). Every write is followed by
 * a write-barrier mark of the pages it touched, so the migration sees it.
 */
export class KvStore {
  private readonly mem: Uint8Array;
  private readonly view: DataView;
  private readonly layout: KvLayout;
  private readonly barrier: WriteBarrier;
  private readonly regs: Registers;
  private readonly mask: number;

  constructor(mem: Uint8Array, layout: KvLayout, barrier: WriteBarrier, regs: Registers) {
    this.mem = mem;
    this.view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
    this.layout = layout;
    this.barrier = barrier;
    this.regs = regs;
    this.mask = layout.tableSlots - 1;
  }

  /** Stores `value` under `key`; false when the heap or the table is full. */
  set(key: string, value: string): boolean {
    const k = Buffer.from(key, 'latin1');
    const v = Buffer.from(value, 'latin1');
    const hash = hashKey(k);
    const slot = this.findSlot(hash, k);
    const isNew = this.view.getUint32(slot, true) === 0;
    const size = align8(RECORD_HEADER_BYTES + k.byteLength + v.byteLength);
    if (this.regs.heapTop + size > this.layout.heapBytes) return false;
    if (isNew && this.regs.keys + 1 > this.layout.tableSlots * MAX_LOAD) return false;

    // Record first, then the slot that points at it; each write followed by its mark.
    const record = this.layout.heapOffset + this.regs.heapTop;
    this.view.setUint32(record, hash, true);
    this.view.setUint16(record + 4, k.byteLength, true);
    this.view.setUint16(record + 6, v.byteLength, true);
    this.mem.set(k, record + RECORD_HEADER_BYTES);
    this.mem.set(v, record + RECORD_HEADER_BYTES + k.byteLength);
    this.barrier.markRange(REGION, record, size);
    this.regs.heapTop += size;

    this.view.setUint32(slot + 4, record, true);
    this.view.setUint32(slot, hash, true);
    this.barrier.markRange(REGION, slot, SLOT_BYTES);
    if (isNew) this.regs.keys++;
    this.regs.sets++;
    return true;
  }

  get(key: string): string | undefined {
    const k = Buffer.from(key, 'latin1');
    const slot = this.findSlot(hashKey(k), k);
    this.regs.gets++;
    if (this.view.getUint32(slot, true) === 0) return undefined;
    const record = this.view.getUint32(slot + 4, true);
    const keyBytes = this.view.getUint16(record + 4, true);
    const valueBytes = this.view.getUint16(record + 6, true);
    const at = record + RECORD_HEADER_BYTES + keyBytes;
    return Buffer.from(this.mem.buffer, this.mem.byteOffset + at, valueBytes).toString('latin1');
  }

  /**
   * Walks the whole table and checks every slot points at a record inside the heap's used part
   * whose hash matches; returns the number of keys. Throws on the first inconsistency. A guest
   * resumed over migrated memory runs this before serving: torn or missing pages show up here.
   */
  fsck(): number {
    const { tableOffset, tableSlots, heapOffset } = this.layout;
    const heapEnd = heapOffset + this.regs.heapTop;
    let keys = 0;
    for (let i = 0; i < tableSlots; i++) {
      const slot = tableOffset + i * SLOT_BYTES;
      const hash = this.view.getUint32(slot, true);
      if (hash === 0) continue;
      const record = this.view.getUint32(slot + 4, true);
      if (record < heapOffset || record + RECORD_HEADER_BYTES > heapEnd) {
        throw new Error(`slot ${i} points at ${record}, outside the heap's used ${heapOffset}..${heapEnd}`);
      }
      const keyBytes = this.view.getUint16(record + 4, true);
      const valueBytes = this.view.getUint16(record + 6, true);
      if (record + RECORD_HEADER_BYTES + keyBytes + valueBytes > heapEnd)
        throw new Error(`record at ${record} runs past the heap's used part`);
      if (this.view.getUint32(record, true) !== hash) throw new Error(`record at ${record} has a different hash from slot ${i}`);
      if (hashKey(this.mem.subarray(record + RECORD_HEADER_BYTES, record + RECORD_HEADER_BYTES + keyBytes)) !== hash) {
        throw new Error(`key of the record at ${record} does not hash to its slot's hash`);
      }
      keys++;
    }
    if (keys !== this.regs.keys) throw new Error(`table holds ${keys} keys, the registers say ${this.regs.keys}`);
    return keys;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private findSlot(hash: number, key: Uint8Array): number {
    const { tableOffset } = this.layout;
    for (let i = hash & this.mask, probes = 0; probes <= this.mask; i = (i + 1) & this.mask, probes++) {
      const slot = tableOffset + i * SLOT_BYTES;
      const slotHash = this.view.getUint32(slot, true);
      if (slotHash === 0) return slot;
      if (slotHash === hash && this.keyAt(this.view.getUint32(slot + 4, true), key)) return slot;
    }
    throw new Error('hash table has no free slot');
  }

  private keyAt(record: number, key: Uint8Array): boolean {
    const keyBytes = this.view.getUint16(record + 4, true);
    if (keyBytes !== key.byteLength) return false;
    const at = record + RECORD_HEADER_BYTES;
    for (let i = 0; i < keyBytes; i++) if (this.mem[at + i] !== key[i]) return false;
    return true;
  }
}

/** FNV-1a, never 0 (0 marks an empty slot). */
export function hashKey(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.byteLength; i++) {
    h ^= key[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0 || 1;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
