import {
  DirtyBitmap,
  ExternalTracker,
  type GuestMemory,
  HashScanTracker,
  KernelWriteTracker,
  loadKernels,
  PerRegionTracker,
  WriteBarrier,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { NO_NATIVE_ENV } from '../../src/accel/index.ts';
import { describeTrackerCompliance, type TrackedGuest } from './tracker-compliance.ts';

/**
 * Every DirtyTracker in src/dirty runs the compliance suite: the five that find writes
 * (write barrier, kernel write protection, hash scan with the native kernels and with the JS
 * kernels, and a log the control plane pushes) and the one that combines them per region.
 */

/** Changes byte `offset` of a page: new content on every write, so a content comparison sees it too. */
function touch(memory: GuestMemory, region: number, page: number, offset = 0): void {
  const bytes = memory.page(region, page);
  bytes[offset] = (bytes[offset]! + 1) & 0xff;
}

const nativeDisabled = process.env[NO_NATIVE_ENV] === '1';

describeTrackerCompliance({
  name: 'WriteBarrierTracker',
  writesBeforeStart: 'forgotten',
  create(memory): TrackedGuest {
    const tracker = new WriteBarrierTracker(memory.layout);
    // The guest's half, as a worker would build it from the shared buffers: write, then mark.
    const barrier = new WriteBarrier(tracker.sharedBuffers(), memory.pageSize);
    return {
      tracker,
      write(region, page, offset = 0) {
        touch(memory, region, page, offset);
        barrier.markByte(region, page * memory.pageSize + offset);
      },
    };
  },
});

const kernelSupport = KernelWriteTracker.support();
describeTrackerCompliance({
  name: 'KernelWriteTracker',
  unsupported: kernelSupport.available ? undefined : (kernelSupport.reason ?? 'unavailable'),
  backing: 'mapped',
  writesBeforeStart: 'forgotten',
  create(memory): TrackedGuest {
    // The guest only writes: the kernel sees it.
    return { tracker: new KernelWriteTracker(memory), write: (region, page, offset) => touch(memory, region, page, offset) };
  },
});

for (const kernels of ['native', 'js'] as const) {
  describeTrackerCompliance({
    name: `HashScanTracker with the ${kernels} kernels`,
    // CI builds the addon: only FERRY_NO_NATIVE=1 excuses the native run, a load failure fails it.
    unsupported: kernels === 'native' && nativeDisabled ? `${NO_NATIVE_ENV}=1` : undefined,
    writesBeforeStart: 'forgotten',
    async create(memory): Promise<TrackedGuest> {
      const loaded = await loadKernels({ native: kernels === 'native' });
      if (loaded.name !== kernels) throw new Error(`asked for the ${kernels} kernels, got ${loaded.name}`);
      // The guest only writes: every sync compares each page with what it held at the last one.
      return { tracker: new HashScanTracker(memory, loaded), write: (region, page, offset) => touch(memory, region, page, offset) };
    },
  });
}

describeTrackerCompliance({
  name: 'ExternalTracker',
  // The control plane hands over its hypervisor's log, which holds whatever was written since it was last fetched.
  writesBeforeStart: 'reported',
  create(memory): TrackedGuest {
    // A hypervisor's dirty log, fetched and cleared (as KVM_GET_DIRTY_LOG does) just before each sync.
    const log = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    const tracker: ExternalTracker = new ExternalTracker(memory.layout, {
      onSync: async (region) => {
        await Promise.resolve(); // as if asking the hypervisor took a while
        const words = new BigUint64Array(Math.ceil(log[region]!.bitCount / 64));
        new Uint32Array(words.buffer).set(log[region]!.words);
        log[region]!.clearAll();
        tracker.push(region, words); // KVM's layout: 64-bit little-endian words
      },
    });
    return {
      tracker,
      write(region, page, offset) {
        touch(memory, region, page, offset);
        log[region]!.set(page);
      },
    };
  },
});

describeTrackerCompliance({
  name: 'PerRegionTracker (the write barrier and the hash scan, region by region)',
  writesBeforeStart: 'forgotten',
  async create(memory): Promise<TrackedGuest> {
    const barrier = new WriteBarrierTracker(memory.layout);
    const marks = new WriteBarrier(barrier.sharedBuffers(), memory.pageSize);
    const scan = new HashScanTracker(memory, await loadKernels());
    // Even regions: code that marks its writes; odd regions: something that does not (a device, say).
    const trackers = memory.regions.map((_, i) => (i % 2 === 0 ? barrier : scan));
    return {
      tracker: new PerRegionTracker(trackers),
      write(region, page, offset) {
        touch(memory, region, page, offset);
        if (trackers[region] === barrier) marks.markPage(region, page);
      },
    };
  },
});
