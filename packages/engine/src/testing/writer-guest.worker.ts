import { parentPort, workerData } from 'node:worker_threads';
import { WriteBarrier } from '../dirty/write-barrier.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { writePattern } from './page-pattern.ts';
import { Control, type WriterGuestData } from './writer-guest-protocol.ts';

/**
 * A guest's vCPU in a worker: writes whole pages at random at a set rate, marking each in the
 * write barrier after the write, and parks when asked to pause.
 */
const data = workerData as WriterGuestData;
const ctl = new Int32Array(data.control);
const barrier = new WriteBarrier(data.dirty, data.pageSize);
const regions = data.regions.map((b, i) =>
  b instanceof SharedArrayBuffer
    ? new Uint8Array(b)
    : GuestMemory.attach({ regions: [{ name: `ram${i}`, mappingId: b.mappingId }] }).region(0).bytes,
);
let rng = data.seed | 1;
const next = (): number => {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return rng >>> 0;
};

parentPort?.postMessage('ready');
let last = performance.now();
let allowance = 0;
let sweep = 0;
for (;;) {
  const state = Atomics.load(ctl, Control.STATE);
  if (state === Control.STOP) break;
  if (state === Control.PAUSE_REQUESTED) {
    Atomics.store(ctl, Control.STATE, Control.PAUSED);
    Atomics.notify(ctl, Control.STATE);
    while (Atomics.load(ctl, Control.STATE) === Control.PAUSED) Atomics.wait(ctl, Control.STATE, Control.PAUSED);
    last = performance.now();
    continue;
  }
  // Keep to the requested rate, less the throttle: earn write allowance with time, sleep when
  // there is none (woken early by a state change). Bounded, so a pause does not bank a burst.
  const now = performance.now();
  const rate = (data.pagesPerSec * (100 - Atomics.load(ctl, Control.THROTTLE))) / 100;
  allowance = Math.min(allowance + ((now - last) / 1000) * rate, Math.max(1, rate / 100));
  last = now;
  if (allowance < 1) {
    Atomics.wait(ctl, Control.STATE, Control.RUNNING, 1);
    continue;
  }
  allowance -= 1;
  const r = next() % regions.length;
  const region = regions[r]!;
  const pageCount = region.byteLength / data.pageSize;
  const workingSet = Math.max(1, Math.floor(pageCount * data.workingSetFraction));
  const page = data.pattern === 'sequential' ? sweep++ % workingSet : next() % workingSet;
  const version = Atomics.add(ctl, Control.WRITES, 1) + 1;
  const bytes = region.subarray(page * data.pageSize, (page + 1) * data.pageSize);
  if (data.writeBytes > 0) {
    // A small update, as a program changing a few fields: N bytes at a random offset.
    const at = next() % (data.pageSize - data.writeBytes);
    for (let b = 0; b < data.writeBytes; b++) bytes[at + b] = (version + b) & 0xff;
  } else {
    writePattern(bytes, page, version);
  }
  barrier.markPage(r, page);
}
