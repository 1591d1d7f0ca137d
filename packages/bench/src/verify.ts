import { randomFillSync } from 'node:crypto';
import {
  CrossCheckedTracker,
  DirtyBitmap,
  digestOfPageHashes,
  GuestMemory,
  hashMemoryAsync,
  KernelWriteTracker,
  loadKernels,
  memoryDigestAsync,
  WriteBarrier,
  WriteBarrierTracker,
} from '@ferry/engine';
import { printTable, writeResult } from './output.ts';
import { median } from './stats.ts';

/**
 * What each way of verifying costs while the guest is paused, at several guest sizes, measured
 * in the same run (ADR 0004): `memory` hashes all memory (off-thread, two at a time); `tracker`
 * syncs the second tracker (the kernel's, over the whole guest) and checks it against the
 * first's bitmap; `sent` digests the table of page hashes kept while sending. Beside them, the
 * audit after the resume (a hash of every page, off the blackout).
 */
export async function verifyBench(o: { sizesMiB: readonly number[]; repeats: number; dirtyPages: number }): Promise<void> {
  const kernels = await loadKernels();
  const rows: Record<string, number | string>[] = [];
  for (const sizeMiB of o.sizesMiB) {
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', sizeBytes: sizeMiB * 2 ** 20 }] });
    const bytes = memory.region(0).bytes;
    for (let at = 0; at < bytes.byteLength; at += 2 ** 26) randomFillSync(bytes.subarray(at, Math.min(at + 2 ** 26, bytes.byteLength)));
    const barrier = new WriteBarrierTracker(memory.layout);
    const marks = new WriteBarrier(barrier.sharedBuffers(), memory.pageSize);
    const crossed = new CrossCheckedTracker(barrier, new KernelWriteTracker(memory), memory.layout);
    const sentHashes = await hashMemoryAsync(memory, kernels);
    const t = { memory: [] as number[], tracker: [] as number[], sent: [] as number[], audit: [] as number[] };
    await crossed.start();
    let x = 99;
    for (let rep = 0; rep < o.repeats; rep++) {
      // The guest writes some pages (as the final round finds them), through both trackers' eyes.
      for (let i = 0; i < o.dirtyPages; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        const page = x % memory.totalPages;
        bytes[page * memory.pageSize]! ^= 1;
        marks.markPage(0, page);
      }
      const dirty = [new DirtyBitmap(memory.totalPages)];
      let start = performance.now();
      await crossed.sync(0, dirty[0]!);
      await crossed.check(dirty, true);
      t.tracker.push(performance.now() - start);
      start = performance.now();
      await memoryDigestAsync(memory, kernels);
      t.memory.push(performance.now() - start);
      start = performance.now();
      digestOfPageHashes(sentHashes, kernels);
      t.sent.push(performance.now() - start);
      start = performance.now();
      await hashMemoryAsync(memory, kernels);
      t.audit.push(performance.now() - start);
    }
    crossed.stop();
    memory.unmap();
    rows.push({
      'guest MiB': sizeMiB,
      'memory ms (paused)': median(t.memory),
      'tracker ms (paused)': median(t.tracker),
      'sent ms (paused)': median(t.sent),
      'audit ms (after resume)': median(t.audit),
      'memory/tracker': median(t.memory) / median(t.tracker),
    });
    console.log(`verify: ${sizeMiB} MiB done`);
  }
  printTable(rows);
  console.log(`wrote ${writeResult('verify', { options: o, rows })}`);
}
