/**
 * The blackout benchmark's guest, a vCPU in a worker: writes a counter into random pages of a
 * hot set at a set rate (marking each in the write barrier after the write, on the source), and
 * stamps a heartbeat every 10 ms on CLOCK_MONOTONIC (`process.hrtime`, the same clock in every
 * process of this machine) into a shared ring. It parks when paused and says so, so that no
 * heartbeat is stamped once `pause()` has returned.
 */
import { once } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '@ferry/engine';
import { WriteBarrier } from '@ferry/engine/guest';
import { Ctl, type GuestAttach, type GuestData, HEARTBEAT_MS } from './guest-protocol.ts';

const data = workerData as GuestData;
const ctl = new Int32Array(data.control);
const beats = new Float64Array(data.heartbeats);
// Started ahead (its code loaded), the guest waits for its memory.
const [at] = (await once(parentPort!, 'message')) as [GuestAttach];
const pageSize = at.pageSize;
const memory = GuestMemory.attach({ pageSize, regions: [{ name: 'ram0', mappingId: at.mappingId }] });
const bytes = memory.region(0).bytes;
const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const barrier = at.dirty ? new WriteBarrier([at.dirty], pageSize) : undefined;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
parentPort!.postMessage('attached');

let rng = 0x9e3779b9;
let counter = 0;
let nextBeat = nowMs();
const start = nowMs();
let written = 0;
for (;;) {
  if (Atomics.load(ctl, Ctl.STOP) === 1) break;
  if (Atomics.load(ctl, Ctl.PAUSE) === 1) {
    Atomics.store(ctl, Ctl.PARKED, 1);
    Atomics.notify(ctl, Ctl.PARKED);
    Atomics.wait(ctl, Ctl.PAUSE, 1);
    Atomics.store(ctl, Ctl.PARKED, 0);
    nextBeat = nowMs();
    continue;
  }
  const now = nowMs();
  if (now >= nextBeat) {
    const n = beats[0]!;
    if (n + 1 < beats.length) {
      beats[n + 1] = now;
      beats[0] = n + 1;
    }
    nextBeat += HEARTBEAT_MS;
    if (nextBeat < now) nextBeat = now + HEARTBEAT_MS;
  }
  // Writes due by now at the set rate; sleep a little when ahead.
  const due = data.pagesPerSec > 0 ? ((now - start) * data.pagesPerSec) / 1000 : written;
  if (written >= due) {
    Atomics.wait(ctl, Ctl.PAUSE, 0, Math.min(1, Math.max(0, nextBeat - now)));
    continue;
  }
  for (let i = 0; i < 64 && written < due; i++, written++) {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    const page = (rng >>> 0) % data.hotPages;
    view.setUint32(page * pageSize + ((counter * 8) % (pageSize - 8)), ++counter, true);
    barrier?.markByte(0, page * pageSize);
  }
}
memory.unmap();
