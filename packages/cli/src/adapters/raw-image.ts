import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { DEFAULT_PAGE_SIZE, GuestMemory, HashScanTracker, loadKernels, type MemoryLayout } from '@ferry/engine';
import { UsageError } from '../usage-error.ts';
import type { AdapterOptions, DestinationGuest, GuestAdapter, SourceGuest } from './adapter.ts';

/**
 * A raw memory image file: one region, the file's bytes. The source maps it read-only and finds
 * what changed by hashing every page at each sync (`HashScanTracker`), so another process may
 * keep writing it; `--pid` names that process, which is then stopped for the switchover. The
 * destination maps a fresh `--out` file as the guest's memory: once the digest matched, the
 * file is the image.
 */
export const rawImageAdapter: GuestAdapter = {
  name: 'raw',
  summary: 'a raw memory image file (--image on the source, --out on the destination)',

  async source(o: AdapterOptions): Promise<SourceGuest> {
    if (!o.image) throw new UsageError('--guest raw needs --image FILE');
    if (!existsSync(o.image)) throw new UsageError(`--image ${o.image} does not exist`);
    const size = statSync(o.image).size;
    if (size === 0 || size % DEFAULT_PAGE_SIZE !== 0) {
      throw new UsageError(`--image ${o.image} is ${size} bytes: a memory image is a whole number of ${DEFAULT_PAGE_SIZE}-byte pages`);
    }
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', file: o.image, writable: false }] });
    const tracker = new HashScanTracker(memory, await loadKernels());
    const deviceState = o.deviceState ? new Uint8Array(readFileSync(o.deviceState)) : new Uint8Array(0);
    const signal = (name: NodeJS.Signals): void => {
      if (o.pid !== undefined) process.kill(o.pid, name);
    };
    return {
      memory,
      tracker,
      guestId: `raw:${o.image}`,
      info: { image: o.image, bytes: size, ...(o.pid !== undefined && { pid: o.pid }) },
      controlPlane: {
        pause: () => signal('SIGSTOP'),
        resume: () => signal('SIGCONT'),
        saveDeviceState: () => deviceState,
        // The destination runs the guest now: this copy must never run again.
        release: () => signal('SIGKILL'),
      },
      close: async () => memory.unmap(),
    };
  },

  async destination(o: AdapterOptions): Promise<DestinationGuest> {
    const out = o.out;
    if (!out) throw new UsageError('--guest raw needs --out FILE');
    if (existsSync(out) && !o.force) throw new UsageError(`--out ${out} exists: remove it or give --force`);
    let memory: GuestMemory | undefined;
    let received = false;
    return {
      runsGuest: false,
      info: () => ({ out, bytes: memory?.totalBytes ?? 0, ...(o.deviceState && { deviceState: o.deviceState }) }),
      controlPlane: {
        admit: (guest) =>
          guest.layout.regions.length === 1 ? undefined : `a raw image is one region; this guest has ${guest.layout.regions.length}`,
        allocate(layout: MemoryLayout) {
          // The destination starts from zeroed memory: a fresh file, never an old one's bytes.
          rmSync(out, { force: true });
          memory = GuestMemory.map({
            pageSize: layout.pageSize,
            regions: [{ name: layout.regions[0]!.name, file: out, sizeBytes: layout.regions[0]!.sizeBytes, create: true }],
          });
          return memory;
        },
        loadDeviceState(state) {
          if (o.deviceState) writeFileSync(o.deviceState, state);
        },
        resume() {
          received = true;
        },
        discard() {
          memory?.unmap();
          memory = undefined;
          rmSync(out, { force: true });
        },
      },
      close: async () => {
        if (received) memory?.unmap();
      },
    };
  },
};
