import type { WriteBarrier } from '@ferry/engine/guest';
import { type KvLayout, LOG_RECORD_BYTES, PAGE_SIZE } from './layout.ts';
import type { Registers } from './registers.ts';

const REGION = 0;
/** Bytes each churn step rewrites in the data area. */
const SCRIBBLE_BYTES = 64;

/**
 * The guest's background activity, what keeps a real VM's memory dirty while it migrates: each
 * step rewrites 64 bytes of a random data page (a page-cache update), bumps a random stats
 * counter and appends a record to the ring log. One step dirties one scattered data page, so
 * steps per second are the churn's pages per second.
 */
export class Churn {
  private readonly view: DataView;
  private readonly layout: KvLayout;
  private readonly barrier: WriteBarrier;
  private readonly regs: Registers;
  private readonly logRecords: number;
  private readonly dataFirstPage: number;

  constructor(mem: Uint8Array, layout: KvLayout, barrier: WriteBarrier, regs: Registers) {
    this.view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
    this.layout = layout;
    this.barrier = barrier;
    this.regs = regs;
    this.logRecords = layout.logBytes / LOG_RECORD_BYTES;
    this.dataFirstPage = layout.dataOffset / PAGE_SIZE;
  }

  step(): void {
    const view = this.view;
    const page = this.next() % this.layout.dataPages;
    const at = this.layout.dataOffset + page * PAGE_SIZE + (this.next() % (PAGE_SIZE / SCRIBBLE_BYTES)) * SCRIBBLE_BYTES;
    for (let i = 0; i < SCRIBBLE_BYTES; i += 4) view.setUint32(at + i, this.next(), true);
    this.barrier.markPage(REGION, this.dataFirstPage + page);

    const counter = this.layout.statsOffset + (this.next() % this.layout.statsCounters) * 4;
    view.setUint32(counter, (view.getUint32(counter, true) + 1) >>> 0, true);
    this.barrier.markByte(REGION, counter);

    const record = this.layout.logOffset + (this.regs.logHead % this.logRecords) * LOG_RECORD_BYTES;
    view.setFloat64(record, this.regs.churnOps, true);
    view.setUint32(record + 8, this.regs.generation, true);
    view.setUint32(record + 12, page, true);
    view.setUint32(record + 16, counter, true);
    view.setUint32(record + 20, this.regs.keys, true);
    view.setFloat64(record + 24, this.regs.heapTop, true);
    this.barrier.markRange(REGION, record, LOG_RECORD_BYTES);
    this.regs.logHead++;
    this.regs.churnOps++;
  }

  /** xorshift32 over the rng register. */
  private next(): number {
    let x = this.regs.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.regs.rng = x >>> 0;
    return this.regs.rng;
  }
}
