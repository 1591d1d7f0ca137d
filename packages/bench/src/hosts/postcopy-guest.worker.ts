/**
 * The benchmark's guest on the destination during post-copy: touches pages (random, in
 * order, or in runs of 64 from random places), up to ~30k a second, waiting for missing ones either cooperatively (`PostcopyPager`) or
 * by simply touching them (userfaultfd: the kernel blocks it). Reports each wait and how many
 * pages it touched per 100 ms, until told to stop.
 */
import { once } from 'node:events';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '@ferry/engine';
import { PostcopyPager } from '@ferry/engine/guest';

// Started before the migration resumes (so its start-up is not counted as waiting); it gets
// the post-copy access at resume.
const [go] = (await once(parentPort!, 'message')) as [object];
const w = { ...(workerData as object), ...go } as {
  mode: 'cooperative' | 'userfaultfd';
  pattern: 'random' | 'sequential' | 'runs';
  pageSize: number;
  stop: SharedArrayBuffer;
  regions?: SharedArrayBuffer[];
  presence?: SharedArrayBuffer[];
  port?: MessagePort;
  mappingIds?: number[];
};
const memory =
  w.mode === 'userfaultfd'
    ? GuestMemory.attach({ pageSize: w.pageSize, regions: w.mappingIds!.map((mappingId, i) => ({ name: `r${i}`, mappingId })) })
    : GuestMemory.wrap({ pageSize: w.pageSize, regions: w.regions!.map((b, i) => ({ name: `r${i}`, bytes: new Uint8Array(b) })) });
const pager = w.mode === 'cooperative' ? new PostcopyPager(w.presence!, w.port!, w.pageSize) : undefined;
const flag = new Int32Array(w.stop);
const bytes = memory.region(0).bytes;
const pages = memory.region(0).pageCount;
const seen = new Uint8Array(pages);
const waitsUs: number[] = [];
const touchesPer100ms: number[] = [];
let x = 987654321;
let next = 0;
let runStart = 0;
let touches = 0;
let windowStart = performance.now();
while (Atomics.load(flag, 0) === 0) {
  let page: number;
  if (w.pattern === 'sequential') page = next++ % pages;
  else if (w.pattern === 'runs') {
    // Runs of 64 pages in order from random places: what pre-paging is for.
    if (next % 64 === 0) {
      x = (x * 1103515245 + 12345) >>> 0;
      runStart = x % pages;
    }
    page = (runStart + (next++ % 64)) % pages;
  } else {
    x = (x * 1103515245 + 12345) >>> 0;
    page = x % pages;
  }
  const waitsBefore = pager?.waits ?? 0;
  const t0 = performance.now();
  pager?.ensure(0, page);
  const v = bytes[page * w.pageSize + 7]!; // the touch (blocks in the kernel in userfaultfd mode)
  const dt = performance.now() - t0;
  if (seen[page] === 0) {
    seen[page] = 1;
    // Cooperative: the pager says whether it waited. Userfaultfd: a first touch over 20 µs
    // waited for the network (a resident page costs well under 1 µs, a fresh one a few).
    if (pager ? pager.waits > waitsBefore : dt > 0.02) waitsUs.push(dt * 1000);
  }
  bytes[page * w.pageSize + 8] = v ^ 1;
  touches++;
  // At most ~30k touches a second, sleeping between: on a 2-core machine a guest spinning on
  // one core would leave the migration's threads of both hosts one core to share.
  if (touches % 32 === 0) Atomics.wait(flag, 0, 0, 1);
  const now = performance.now();
  if (now - windowStart >= 100) {
    touchesPer100ms.push(touches);
    touches = 0;
    windowStart = now;
  }
}
parentPort!.postMessage({ waitsUs, touchesPer100ms });
