import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNativeMemory } from '../../src/accel/native-memory.ts';
import { ErrorCode, GuestMemory, type IncomingMigration, type MigrationReport, policies } from '../../src/index.ts';
import { startWorker } from '../../src/testing/index.ts';
import {
  cuttableProxy,
  expectSameMemory,
  guestMemory,
  listenSink,
  MiB,
  migrationPair,
  type PageFill,
  sourceHost,
} from '../harness/index.ts';

const PAGE = 4096;

/**
 * Source memory whose every page starts with its own index, then bytes that vary by page, but
 * for zero pages (index % 7 === 3) among them: what the post-copy guest workers check.
 */
const SOURCE: PageFill = { content: 'indexed', pages: (p) => p % 7 !== 3 };

interface GuestResult {
  stamped: [number, number][];
  waitsUs: number[];
  wrong: number;
  waits: number;
}

/** A destination whose resume hook starts a post-copy guest worker on the arriving memory. */
async function postcopyDestination(sequential = false, recoveryTimeoutMs?: number) {
  let worker: Worker | undefined;
  const stop = new Int32Array(new SharedArrayBuffer(4));
  let resolveGuest!: (r: GuestResult) => void;
  const guestDone = new Promise<GuestResult>((resolve) => {
    resolveGuest = resolve;
  });
  const destination = await listenSink({
    ...(recoveryTimeoutMs !== undefined && { recoveryTimeoutMs }),
    controlPlane: {
      resume: (memory, _state, postcopy) => {
        if (!postcopy) return;
        worker = startWorker(new URL('../fixtures/postcopy-guest.worker.ts', import.meta.url), {
          workerData: {
            regions: memory.regions.map((r) => r.bytes.buffer),
            presence: postcopy.presence,
            port: postcopy.port,
            pageSize: memory.pageSize,
            stop: stop.buffer,
            sequential,
          },
          transferList: [postcopy.port],
        });
        worker.once('message', resolveGuest);
      },
    },
  });
  const stopGuest = async (): Promise<GuestResult> => {
    Atomics.store(stop, 0, 1);
    Atomics.notify(stop, 0);
    const result = await guestDone;
    await worker?.terminate();
    return result;
  };
  // A guest blocked on a page that will never come cannot stop by itself: terminate it.
  const kill = async (): Promise<void> => {
    await worker?.terminate();
  };
  return { destination, stopGuest, kill };
}

/** Every page equals the source's, except the guest's stamp in pages it touched, which must have survived. */
function checkMemory(source: GuestMemory, incoming: IncomingMigration, stamped: [number, number][]): void {
  const touched = new Set(stamped.map(([r, p]) => `${r}:${p}`));
  for (let r = 0; r < source.regions.length; r++) {
    const a = source.region(r).bytes;
    const b = incoming.memory.region(r).bytes;
    for (let p = 0; p < source.region(r).pageCount; p++) {
      const at = p * PAGE;
      if (touched.has(`${r}:${p}`)) {
        expect(Buffer.compare(a.subarray(at, at + PAGE - 8), b.subarray(at, at + PAGE - 8))).toBe(0);
        expect(new DataView(b.buffer).getUint32(at + PAGE - 8, true)).toBe(0xfeedbeef);
      } else {
        expect(Buffer.compare(a.subarray(at, at + PAGE), b.subarray(at, at + PAGE))).toBe(0);
      }
    }
  }
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('post-copy', () => {
  it('resumes the guest on the destination at once and fetches what it touches, byte for byte', async () => {
    const source = await sourceHost({
      memory: [32 * MiB, 4 * MiB],
      fill: SOURCE,
      deviceState: new Uint8Array([1, 2, 3]),
      controlPlane: {
        resume: () => {
          throw new Error('must not resume on the source after commit');
        },
      },
    });
    const { destination, stopGuest } = await postcopyDestination();
    const report: MigrationReport = await source.migrateTo(destination.port, {
      strategy: 'postcopy',
      // Slow enough that the guest must ask for pages instead of finding them pushed already.
      maxBandwidth: 25e6,
    });
    const incoming = await destination.result;
    const guest = await stopGuest();
    expect(source.plane.calls).toEqual(['pause', 'saveDeviceState', 'release']);
    expect(report.strategy).toBe('postcopy');
    expect(report.rounds).toEqual([]);
    expect(report.postcopy?.missingPages).toBe(source.memory.totalPages);
    // While paused: the map of missing pages (a few bytes: all missing) and the device state, no pages.
    expect(report.bytesSentDuringDowntime).toBeGreaterThan(0);
    expect(report.bytesSentDuringDowntime).toBeLessThan(64 * 1024);
    expect(report.postcopy!.requestedPages + report.postcopy!.pushedPages).toBe(source.memory.totalPages);
    expect(report.digest).toBe(incoming.digest);
    expect(incoming.postcopy?.faults).toBeGreaterThan(0);
    expect(guest.wrong).toBe(0);
    expect(guest.waits).toBeGreaterThan(0);
    expect(destination.plane.loaded).toEqual([Uint8Array.of(1, 2, 3)]);
    checkMemory(source.memory, incoming, guest.stamped);
  });

  it('goes to post-copy before round 0 when a sample of the guest says no round could fit a capped link (hybrid)', async () => {
    // Dirties far more than a 20 MB/s link carries (even at a tenth of its rate, on a loaded
    // machine): pre-copy alone would never converge.
    // No guest runs at the destination in this test: it waits for all pages to arrive in the background.
    const pair = await migrationPair({ memory: 16 * MiB, guest: { pagesPerSec: 40_000, workingSetFraction: 1 } });
    await new Promise((r) => setTimeout(r, 300)); // writing at full rate before pre-copy starts
    const report = await pair.migrate({ strategy: 'hybrid', maxBandwidth: 20e6, maxDowntimeMs: 5 });
    const incoming = await pair.destination.result;
    expect(pair.destination.plane.resumed[0]?.postcopy).toBeDefined();
    expect(report.strategy).toBe('hybrid');
    // No round over all memory first: it would only delay the post-copy and send hot pages twice.
    expect(report.rounds).toHaveLength(0);
    expect(report.postcopy?.reason).toBe('wont-converge');
    expect(report.switchover).toMatchObject({ reason: 'wont-converge', limitMs: 5 });
    expect(report.switchover.predictedDowntimeMs).toBeGreaterThan(5);
    expectSameMemory(incoming.memory, pair.memory);
    expect(report.digest).toBe(incoming.digest);
  });

  it('pre-copies a guest the sample says will fit, and stops and copies it (hybrid)', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, fill: 'pattern', guest: { pagesPerSec: 500, workingSetFraction: 0.05 } });
    const report = await pair.migrate({ strategy: 'hybrid', maxBandwidth: 50e6, maxDowntimeMs: 300 });
    const incoming = await pair.destination.result;
    expect(report.postcopy).toBeUndefined();
    expect(report.rounds.length).toBeGreaterThanOrEqual(1);
    expectSameMemory(incoming.memory, pair.memory);
  });

  it('switches from pre-copy rounds to post-copy when its policy says so (hybrid)', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, guest: { pagesPerSec: 40_000, workingSetFraction: 1 } });
    const events: string[] = [];
    const report = await pair.migrate({
      strategy: 'hybrid',
      maxBandwidth: 50e6,
      policy: policies.firstOf(policies.downtimeLimit(5), policies.maxRounds(2, 'postcopy')),
      onEvent: (e) => {
        if (e.type === 'switchover') events.push(e.reason);
      },
    });
    const incoming = await pair.destination.result;
    expect(report.rounds).toHaveLength(2);
    expect(report.postcopy?.reason).toBe('max-rounds');
    expect(events.at(-1)).toMatch(/^postcopy: /);
    expectSameMemory(incoming.memory, pair.memory);
    expect(report.digest).toBe(incoming.digest);
  });

  it('lets code on the destination thread wait for a page with ensure()', async () => {
    const seen: number[] = [];
    const pair = await migrationPair({
      memory: 8 * MiB,
      fill: SOURCE,
      destination: {
        controlPlane: {
          resume: async (memory, _state, postcopy) => {
            // Ask for pages at the far end first: they arrive long before the push gets there.
            for (const page of [2046, 1500, 1024]) {
              await postcopy!.ensure(0, page);
              seen.push(new DataView(memory.region(0).bytes.buffer).getUint32(page * PAGE, true));
            }
          },
        },
      },
    });
    const report = await pair.migrate({ strategy: 'postcopy', maxBandwidth: 20e6 });
    await pair.destination.result;
    expect(seen).toEqual([2046, 1500, 1024]);
    expect(report.postcopy!.requestedPages).toBeGreaterThanOrEqual(3);
  });

  it('refuses a policy that asks for post-copy under strategy precopy, and the guest runs on', async () => {
    const pair = await migrationPair({ memory: MiB, fill: SOURCE });
    await expect(pair.migrate({ policy: () => ({ action: 'postcopy', reason: 'test' }) })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
    expect(pair.plane.calls).toEqual([]); // it never paused, so nothing to resume
    await pair.destination.result.catch(() => {});
  });
});

const native = loadNativeMemory();
const uffd = 'error' in native ? { available: false, reason: native.error.message } : native.binding.missingFaultSupport();
if (!uffd.available) console.warn(`userfaultfd post-copy tests skipped: ${uffd.reason}`);

describe.skipIf(!uffd.available)('post-copy by real page faults (userfaultfd)', () => {
  it('lets an unmodified guest thread touch missing pages and block in the kernel until they arrive', async () => {
    const source = guestMemory([32 * MiB, 4 * MiB], { fill: SOURCE });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const go = new Int32Array(new SharedArrayBuffer(4));
    let worker: Worker | undefined;
    let resolveGuest!: (r: { stamped: [number, number][]; firstTouchUs: number[]; wrong: number }) => void;
    const guestDone = new Promise<{ stamped: [number, number][]; firstTouchUs: number[]; wrong: number }>((r) => {
      resolveGuest = r;
    });
    let mapped: GuestMemory | undefined;
    const destination = await listenSink({
      postcopyFaults: 'userfaultfd',
      controlPlane: {
        allocate: (layout) => {
          mapped = GuestMemory.map({ pageSize: layout.pageSize, regions: layout.regions });
          return mapped;
        },
        // The guest's thread starts before the pause (its start-up is not the resume's) and waits for the signal.
        prepare: async (memory) => {
          worker = startWorker(new URL('../fixtures/uffd-guest.worker.ts', import.meta.url), {
            workerData: {
              mappingIds: memory.regions.map((r) => r.mapping!.id),
              pageSize: memory.pageSize,
              stop: stop.buffer,
              sequential: false,
              go: go.buffer,
            },
          });
          await new Promise((r) => worker!.once('message', r));
          worker.once('message', resolveGuest);
        },
        resume: (_memory, _state, postcopy) => {
          expect(postcopy).toBeDefined();
          Atomics.store(go, 0, 1);
          Atomics.notify(go, 0);
        },
      },
    });
    cleanup = async () => mapped?.unmap();
    const report = await (await sourceHost({ memory: source, deviceState: new Uint8Array(8) })).migrateTo(destination.port, {
      strategy: 'postcopy',
      maxBandwidth: 25e6,
    });
    const incoming = await destination.result;
    Atomics.store(stop, 0, 1);
    const guest = await guestDone;
    await worker?.terminate();
    expect(report.digest).toBe(incoming.digest);
    expect(guest.wrong).toBe(0);
    expect(incoming.postcopy!.faults).toBeGreaterThan(0);
    checkMemory(source, incoming, guest.stamped);
  });

  it('refuses userfaultfd post-copy on memory the addon did not map, before the source commits', async () => {
    const pair = await migrationPair({ memory: MiB, fill: SOURCE, destination: { postcopyFaults: 'userfaultfd' } });
    await expect(pair.migrate({ strategy: 'postcopy' })).rejects.toMatchObject({
      code: ErrorCode.PEER_FAILED,
      remoteCode: ErrorCode.KERNEL_TRACKING_UNAVAILABLE,
    });
    expect(pair.plane.count('resume')).toBe(1); // the guest runs on at the source
    expect(pair.plane.released).toBe(false);
    await expect(pair.destination.result).rejects.toMatchObject({ code: ErrorCode.KERNEL_TRACKING_UNAVAILABLE });
  });
});

describe('post-copy over a connection that breaks', () => {
  it.each([1, 2, 3])('recovers from cuts at random moments and ends byte for byte (run %i)', async () => {
    const source = await sourceHost({ memory: 24 * MiB, fill: SOURCE, deviceState: new Uint8Array(4) });
    const { destination, stopGuest } = await postcopyDestination();
    const proxy = await cuttableProxy(destination.port);
    const reconnects: number[] = [];
    let cuts = 0;
    const migration = source.migrateTo(proxy.port, {
      strategy: 'postcopy',
      maxBandwidth: 60e6,
      recoveryTimeoutMs: 5_000,
      onEvent: (e) => {
        if (e.type === 'reconnecting') reconnects.push(e.attempt);
        // Cut twice, at random points of the transfer (the guest is running at the destination).
        if (e.type === 'phase' && e.to === 'committed') {
          setTimeout(
            () => {
              cuts++;
              proxy.cut();
            },
            20 + Math.random() * 150,
          );
          setTimeout(
            () => {
              cuts++;
              proxy.cut();
            },
            250 + Math.random() * 100,
          );
        }
      },
    });
    const report = await migration;
    const incoming = await destination.result;
    const guest = await stopGuest();
    expect(cuts).toBe(2);
    expect(report.postcopy!.recoveries).toBeGreaterThanOrEqual(1);
    // Every reconnection of the source was taken over by the destination. The destination's report
    // is made when its side is done: a cut that then loses POSTCOPY_DONE is recovered after it.
    const takenOver = destination.events.filter((e) => e.type === 'recovered').length;
    expect(takenOver).toBe(report.postcopy!.recoveries);
    expect(incoming.postcopy!.recoveries).toBeLessThanOrEqual(takenOver);
    expect(incoming.postcopy!.recoveries).toBeGreaterThanOrEqual(takenOver - 1);
    expect(report.digest).toBe(incoming.digest);
    expect(guest.wrong).toBe(0);
    checkMemory(source.memory, incoming, guest.stamped);
  });

  it("gives up after the recovery timeout on both sides, keeping both sides' state", async () => {
    const source = await sourceHost({ memory: 16 * MiB, fill: SOURCE, deviceState: new Uint8Array(4) });
    const { destination, kill } = await postcopyDestination(false, 400);
    const proxy = await cuttableProxy(destination.port);
    const migration = source.migrateTo(proxy.port, {
      strategy: 'postcopy',
      maxBandwidth: 20e6,
      recoveryTimeoutMs: 400,
      onEvent: (e) => {
        if (e.type === 'phase' && e.to === 'postcopy') {
          setTimeout(() => {
            proxy.refuse(true);
            proxy.cut();
          }, 50);
        }
      },
    });
    await expect(migration).rejects.toMatchObject({ code: ErrorCode.POSTCOPY_INTERRUPTED });
    await expect(destination.result).rejects.toMatchObject({ code: ErrorCode.POSTCOPY_INTERRUPTED });
    expect(source.plane.count('resume')).toBe(0); // never two running copies
    // The source's memory is untouched; the destination still has what arrived.
    expectSameMemory(source.memory, guestMemory(16 * MiB, { fill: SOURCE }));
    await kill();
  });
});

describe('post-copy after pre-copy over several channels', () => {
  it('switches from striped pre-copy to post-copy and recovers a cut on the control connection', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, guest: { pagesPerSec: 40_000, workingSetFraction: 1 } });
    await new Promise((r) => setTimeout(r, 300));
    const proxy = await cuttableProxy(pair.destination.port);
    const report = await pair.migrate({
      port: proxy.port,
      strategy: 'hybrid',
      channels: 2,
      maxBandwidth: 30e6,
      // Rounds first, on both channels, then post-copy.
      policy: policies.firstOf(policies.downtimeLimit(5), policies.maxRounds(2, 'postcopy')),
      recoveryTimeoutMs: 5_000,
      onEvent: (e) => {
        if (e.type === 'phase' && e.to === 'postcopy') setTimeout(() => proxy.cut(), 30);
      },
    });
    const incoming = await pair.destination.result;
    expect(incoming.channels).toBe(2);
    expect(report.postcopy).toBeDefined();
    expect(report.postcopy!.recoveries).toBe(1);
    expectSameMemory(incoming.memory, pair.memory);
    expect(report.digest).toBe(incoming.digest);
  });
});
