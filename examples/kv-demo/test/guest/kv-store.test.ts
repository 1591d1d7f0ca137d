import { DirtyBitmap, GuestMemory, WriteBarrier, WriteBarrierTracker } from '@ferry/engine';
import { describe, expect, it } from 'vitest';
import { bootGuest } from '../../src/guest/boot.ts';
import { Churn } from '../../src/guest/churn.ts';
import { checkRegisters, decodeDeviceState, encodeDeviceState } from '../../src/guest/device-state.ts';
import { KvStore } from '../../src/guest/kv-store.ts';
import { MiB, PAGE_SIZE, readSuperblock } from '../../src/guest/layout.ts';

function guest(): { memory: GuestMemory; tracker: WriteBarrierTracker; barrier: WriteBarrier; mem: Uint8Array } {
  const memory = GuestMemory.create({ pageSize: PAGE_SIZE, regions: [{ name: 'ram', sizeBytes: 16 * MiB }] });
  const tracker = new WriteBarrierTracker(memory.layout);
  return { memory, tracker, barrier: new WriteBarrier(tracker.sharedBuffers(), PAGE_SIZE), mem: memory.region(0).bytes };
}

function dirtyPages(memory: GuestMemory, tracker: WriteBarrierTracker): number[] {
  const into = new DirtyBitmap(memory.region(0).pageCount);
  tracker.sync(0, into);
  const pages: number[] = [];
  for (let p = into.nextSet(0); p >= 0; p = into.nextSet(p + 1)) pages.push(p);
  return pages;
}

describe('KvStore', () => {
  it('keeps the last value of each key and counts keys in its registers', () => {
    const { barrier, mem } = guest();
    const { layout, regs } = bootGuest(mem, barrier);
    const store = new KvStore(mem, layout, barrier, regs);
    expect(store.get('a')).toBeUndefined();
    expect(store.set('a', '1')).toBe(true);
    expect(store.set('b', '2')).toBe(true);
    expect(store.set('a', '3')).toBe(true);
    expect(store.get('a')).toBe('3');
    expect(store.get('b')).toBe('2');
    expect(regs.keys).toBe(2);
    expect(regs.sets).toBe(3);
    expect(store.fsck()).toBe(2);
  });

  it('marks every page it writes in the write barrier', () => {
    const { memory, tracker, barrier, mem } = guest();
    const { layout, regs } = bootGuest(mem, barrier);
    tracker.start();
    const store = new KvStore(mem, layout, barrier, regs);
    store.set('key', 'value');
    const recordPage = layout.heapOffset / PAGE_SIZE;
    const pages = dirtyPages(memory, tracker);
    expect(pages).toContain(recordPage);
    expect(pages.some((p) => p * PAGE_SIZE >= layout.tableOffset && p * PAGE_SIZE < layout.heapOffset)).toBe(true);
    expect(pages).toHaveLength(2);
  });

  it('resumes over a copy of its memory with its registers, and only with both', () => {
    const { barrier, mem } = guest();
    const { layout, regs } = bootGuest(mem, barrier);
    const store = new KvStore(mem, layout, barrier, regs);
    for (let i = 0; i < 500; i++) store.set(`k${i}`, `v${i}`);
    const state = encodeDeviceState(regs);

    const copy = new Uint8Array(new SharedArrayBuffer(mem.byteLength));
    copy.set(mem);
    const moved = decodeDeviceState(state);
    const movedLayout = readSuperblock(new DataView(copy.buffer), copy.byteLength);
    checkRegisters(moved, movedLayout);
    const resumed = new KvStore(copy, movedLayout, barrier, moved);
    expect(resumed.fsck()).toBe(500);
    expect(resumed.get('k123')).toBe('v123');
    expect(resumed.set('k500', 'new')).toBe(true);
    expect(resumed.get('k499')).toBe('v499');

    // Stale registers (an older heap pointer) do not match the memory.
    expect(() => new KvStore(copy, movedLayout, barrier, { ...moved, keys: 3 }).fsck()).toThrow(/registers say 3/);
    // Memory without the guest in it is refused before anything runs.
    expect(() => readSuperblock(new DataView(new ArrayBuffer(mem.byteLength)), mem.byteLength)).toThrow(/no key-value guest superblock/);
  });
});

describe('device state', () => {
  it('round-trips the registers and refuses anything else', () => {
    const regs = { generation: 2, heapTop: 4096, keys: 7, sets: 9, gets: 3, churnOps: 12345, logHead: 12345, rng: 0xdeadbeef };
    expect(decodeDeviceState(encodeDeviceState(regs))).toEqual(regs);
    expect(() => decodeDeviceState(new Uint8Array(4))).toThrow(/too short/);
    const bad = encodeDeviceState(regs);
    bad[0] = 0;
    expect(() => decodeDeviceState(bad)).toThrow(/not a key-value guest/);
    expect(() => decodeDeviceState(encodeDeviceState({ ...regs, heapTop: -1 }))).toThrow(/heapTop/);
  });
});

describe('Churn', () => {
  it('dirties one scattered data page per step, plus the stats and log pages', () => {
    const { memory, tracker, barrier, mem } = guest();
    const { layout, regs } = bootGuest(mem, barrier);
    tracker.start();
    const churn = new Churn(mem, layout, barrier, regs);
    for (let i = 0; i < 100; i++) churn.step();
    const pages = dirtyPages(memory, tracker);
    const dataPages = pages.filter((p) => p * PAGE_SIZE >= layout.dataOffset);
    expect(dataPages.length).toBeGreaterThan(90);
    expect(regs.churnOps).toBe(100);
    expect(regs.logHead).toBe(100);
  });
});
