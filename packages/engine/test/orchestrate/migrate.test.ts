import { describe, expect, it } from 'vitest';
import {
  type DirtyBitmap,
  type FerryError,
  GuestMemory,
  loadKernels,
  MigrationDestination,
  policies,
  migrate,
  type MigrationEvent,
  Pacer,
  TcpTransport,
  type Frame,
  encodeFrame,
  decodeBody,
  messages,
  MessageType,
  Intent,
  Feature,
  ErrorCode,
  WriteBarrierTracker,
  SwitchoverHistory,
} from '../../src/index.ts';
import { findTornPages, WriterGuest, writePattern } from '../../src/testing/index.ts';
import { listenSink } from '../helpers.ts';

const MiB = 1024 * 1024;

describe('migrate', () => {
  it('moves 64 MiB with a guest writing throughout and ends byte-identical', async () => {
    const source = GuestMemory.create({
      regions: [
        { name: 'ram0', sizeBytes: 48 * MiB },
        { name: 'ram1', sizeBytes: 16 * MiB },
      ],
    });
    const tracker = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 20_000, workingSetFraction: 0.25 });
    let destMemory: GuestMemory | undefined;
    let loadedState: Uint8Array | undefined;
    const destination = await MigrationDestination.listen({
      controlPlane: {
        loadDeviceState: (state) => {
          loadedState = state.slice();
        },
        resume: (memory) => {
          destMemory = memory;
        },
      },
    });
    const events: MigrationEvent[] = [];
    const history = new SwitchoverHistory();
    const plane = guest.controlPlane();
    // Let the guest dirty memory before the migration starts.
    await guest.ready;
    await new Promise((r) => setTimeout(r, 200));
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: plane,
      maxDowntimeMs: 50,
      onEvent: (e) => events.push(e),
      switchoverHistory: history,
    });
    const incoming = await destination.result;
    expect(guest.paused).toBe(true);
    expect(plane.released).toBe(true);
    expect(destMemory).toBe(incoming.memory);
    for (let r = 0; r < source.regions.length; r++) {
      expect(Buffer.compare(source.regions[r]!.bytes, incoming.memory.regions[r]!.bytes)).toBe(0);
    }
    expect(findTornPages(incoming.memory)).toEqual([]);
    expect(guest.writes).toBeGreaterThan(1000);
    expect(loadedState).toEqual(plane.saveDeviceState());
    expect(report.outcome).toBe('completed');
    expect(report.digest).toBe(incoming.digest);
    expect(report.rounds.length).toBeGreaterThanOrEqual(2);
    expect(report.downtimeMs).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'round-end')).toBe(true);
    // The prediction behind the switchover comes with its parts and the inputs that made it.
    const switchover = events.find((e) => e.type === 'switchover');
    const prediction = switchover?.type === 'switchover' ? switchover.prediction : undefined;
    expect(prediction).toBeDefined();
    expect(prediction!.totalMs).toBe(switchover!.type === 'switchover' && switchover!.predictedDowntimeMs);
    expect(prediction!.transferMs + prediction!.fixedMs).toBeCloseTo(prediction!.totalMs, 9);
    expect(prediction!.inputs.bandwidthBytesPerSec).toBeGreaterThan(0);
    // The round trip was timed with ECHO on the live connection, not assumed.
    expect(prediction!.inputs.costs!.roundTripMs).toBeGreaterThan(0);
    expect(prediction!.inputs.costs!.roundTripMs).toBeLessThan(prediction!.fixedMs);
    // Every round after the first carries the prediction made at the sync that began it.
    for (const r of report.rounds.slice(1)) expect(r.prediction?.totalMs).toBe(r.predictedDowntimeMs);
    expect(report.rounds[0]!.prediction).toBeUndefined();
    // The completed switchover went into the history a control plane keeps for the next one.
    expect(history.samples).toBe(1);
    await guest.stop();
  });

  it('interoperates across kernels: a TypeScript-fallback source and a native destination agree byte for byte', async () => {
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    const tracker = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 10_000 });
    await guest.ready;
    const destination = await listenSink({
      kernels: await loadKernels({ native: true }),
    });
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: guest.controlPlane(),
      kernels: await loadKernels({ native: false }),
    });
    const incoming = await destination.result;
    expect(report.kernels).toBe('js');
    expect(report.digest).toBe(incoming.digest);
    expect(Buffer.compare(source.region(0).bytes, incoming.memory.region(0).bytes)).toBe(0);
    await guest.stop();
  });

  it('catches a dirty tracker that misses writes: the digests differ and the source guest runs on', async () => {
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    const real = new WriteBarrierTracker(source.layout);
    // A broken tracker: its final sync (while paused) forgets everything the guest wrote.
    let syncs = 0;
    let switchedOver = false;
    const broken = {
      kind: 'broken',
      start: () => real.start(),
      stop: () => real.stop(),
      sync: (region: number, into: DirtyBitmap) => {
        syncs++;
        if (!switchedOver) return real.sync(region, into);
        real.sync(region, into);
        into.clearAll();
        return 0;
      },
    };
    const guest = new WriterGuest(source, real, { pagesPerSec: 50_000 });
    await guest.ready;
    const destination = await listenSink();
    const plane = guest.controlPlane();
    const err = (await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker: broken,
      controlPlane: plane,
      maxRounds: 2,
      onEvent: (e) => {
        if (e.type === 'switchover') switchedOver = true;
      },
    }).catch((e: unknown) => e)) as FerryError;
    expect(syncs).toBeGreaterThan(1);
    expect(err).toMatchObject({ code: 'FERRY_PEER_FAILED', remoteCode: 'FERRY_DIGEST_MISMATCH' });
    await expect(destination.result).rejects.toMatchObject({ code: 'FERRY_DIGEST_MISMATCH' });
    expect(guest.paused).toBe(false);
    expect(plane.released).toBe(false);
    await guest.stop();
  });

  it("verifies from the pages as sent with verify: 'sent', with no digest pass during downtime", async () => {
    const source = GuestMemory.create({
      regions: [
        { name: 'a', sizeBytes: 8 * MiB },
        { name: 'b', sizeBytes: 8 * MiB },
      ],
    });
    const tracker = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 20_000 });
    await guest.ready;
    const destination = await listenSink();
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: guest.controlPlane(),
      verify: 'sent',
    });
    const incoming = await destination.result;
    expect(report.verify).toBe('sent');
    expect(report.digest).toBe(incoming.digest);
    for (let r = 0; r < 2; r++) expect(Buffer.compare(source.region(r).bytes, incoming.memory.region(r).bytes)).toBe(0);
    await guest.stop();
  });

  it.each(['lz4', 'xbzrle', 'adaptive'] as const)(
    'moves memory byte-identical with %s compression, a guest writing and a capped link',
    async (compression) => {
      const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
      // Compressible content the guest then keeps overwriting in part.
      const text = Buffer.from('{"id":1,"name":"ferry","tags":["a","b"]},'.repeat(100));
      for (let p = 0; p < source.region(0).pageCount; p++) source.page(0, p).set(text.subarray(p % 7, (p % 7) + 4096));
      const tracker = new WriteBarrierTracker(source.layout);
      const guest = new WriterGuest(source, tracker, { pagesPerSec: 5_000, workingSetFraction: 0.1 });
      await guest.ready;
      const destination = await listenSink();
      const report = await migrate({
        host: '127.0.0.1',
        port: destination.port,
        memory: source,
        tracker,
        controlPlane: guest.controlPlane(),
        compression,
        maxBandwidth: 100_000_000,
        maxDowntimeMs: 5,
        maxRounds: 4,
      });
      const incoming = await destination.result;
      expect(Buffer.compare(source.region(0).bytes, incoming.memory.region(0).bytes)).toBe(0);
      expect(report.digest).toBe(incoming.digest);
      expect(report.codecs.mode).toBe(compression);
      const p = report.codecs.pages;
      // The guest rewrites whole pages, so XBZRLE finds cached bases but mostly falls back.
      if (compression === 'xbzrle') expect(report.codecs.xbzrleCache.hits).toBeGreaterThan(0);
      if (compression === 'lz4') expect(p.lz4).toBeGreaterThan(1000);
      if (compression === 'adaptive') expect(p.dedup).toBeGreaterThan(1000);
      if (compression !== 'xbzrle') expect(report.bytesSent).toBeLessThan(8 * MiB);
      await guest.stop();
    },
  );

  it('converges a guest that dirties faster than the link by throttling it (auto-converge)', async () => {
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    const tracker = new WriteBarrierTracker(source.layout);
    // 20 000 pages/s (80 MB/s) over a 20 MB/s link: pre-copy alone cannot catch up.
    for (let p = 0; p < source.region(0).pageCount; p++) writePattern(source.page(0, p), p, 1);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 20_000, workingSetFraction: 0.25 });
    await guest.ready;
    const destination = await listenSink();
    const plane = guest.controlPlane();
    const events: MigrationEvent[] = [];
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: plane,
      maxBandwidth: 20_000_000,
      verify: 'sent',
      policy: policies.firstOf(
        policies.downtimeLimit(60),
        policies.nothingLeft(),
        policies.autoConverge({ initial: 50, increment: 20, max: 99, rounds: 2 }),
        policies.maxRounds(40),
      ),
      onEvent: (e) => events.push(e),
    });
    const incoming = await destination.result;
    expect(Buffer.compare(source.region(0).bytes, incoming.memory.region(0).bytes)).toBe(0);
    expect(plane.throttles.length).toBeGreaterThan(0);
    expect(plane.throttles[0]).toBe(50);
    expect(plane.throttles).toEqual([...plane.throttles].sort((a, b) => a - b));
    const throttled = events.filter((e) => e.type === 'throttle');
    expect(throttled.length).toBe(plane.throttles.length);
    expect(events.find((e) => e.type === 'switchover')).toMatchObject({
      reason: expect.stringMatching(/converged|nothing-left|max-rounds/),
    });
    expect(report.outcome).toBe('completed');
    await guest.stop();
  });

  it('lifts the throttle when a throttled migration fails, and the guest runs on at full rate', async () => {
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    for (let p = 0; p < source.region(0).pageCount; p++) writePattern(source.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 20_000, workingSetFraction: 0.25 });
    await guest.ready;
    const destination = await listenSink();
    const plane = guest.controlPlane();
    const err = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: plane,
      maxBandwidth: 20_000_000,
      // A control plane's own policy: throttle after round 1, give up after round 2.
      policy: (f) =>
        f.roundsSent === 2
          ? { action: 'throttle', percent: 30, reason: 'test' }
          : f.roundsSent >= 3
            ? { action: 'abort', reason: 'test gives up' }
            : { action: 'continue' },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ABORTED' });
    expect(plane.throttles[0]).toBe(30);
    expect(plane.throttles.at(-1)).toBe(0);
    expect(guest.throttlePercent).toBe(0);
    expect(guest.paused).toBe(false);
    await guest.stop();
  });
});

describe('bandwidth', () => {
  it('switches to the switchover cap for the final round, and reports bytes per second', async () => {
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 32 * MiB }] });
    for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 2_000, workingSetFraction: 0.1 });
    await guest.ready;
    const destination = await listenSink();
    const pacer = new Pacer(20e6);
    const rates: number[] = [];
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker,
      maxBandwidth: pacer,
      switchoverBandwidth: 0,
      controlPlane: guest.controlPlane(),
      onEvent: (e) => {
        if (e.type === 'round-start') rates.push(pacer.rate);
      },
    });
    await destination.result;
    await guest.stop();
    // Pre-copy rounds ran at the 20 MB/s cap, the final round uncapped.
    expect(rates.slice(0, -1).every((r) => r === 20e6)).toBe(true);
    expect(rates.at(-1)).toBe(Number.POSITIVE_INFINITY);
    // 32 MiB at 20 MB/s takes over a second: at least one whole second was sampled.
    expect(report.bytesPerSecond.length).toBe(Math.floor(report.totalMs / 1000));
    expect(report.bytesPerSecond.length).toBeGreaterThanOrEqual(1);
    expect(report.bytesPerSecond.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(report.bytesSent);
  });
});

describe('several data channels', () => {
  it.each([2, 4])('stripes pages over %i connections and ends byte-identical under writes', async (channels) => {
    const memory = GuestMemory.create({
      regions: [
        { name: 'ram0', sizeBytes: 24 * MiB },
        { name: 'ram1', sizeBytes: 5 * MiB + 4096 * 3 },
      ],
    });
    for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 20_000, workingSetFraction: 0.3 });
    await guest.ready;
    const destination = await listenSink();
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker,
      channels,
      maxBandwidth: 100e6,
      controlPlane: guest.controlPlane(),
    });
    const incoming = await destination.result;
    await guest.stop();
    expect(incoming.channels).toBe(channels);
    expect(report.rounds.length).toBeGreaterThan(1);
    for (let r = 0; r < 2; r++) expect(Buffer.compare(memory.region(r).bytes, incoming.memory.region(r).bytes)).toBe(0);
    expect(findTornPages(incoming.memory)).toEqual([]);
    expect(report.digest).toBe(incoming.digest);
  });

  it('refuses a data channel that names no migration in progress, before anything is allocated', async () => {
    let allocated = 0;
    const destination = await listenSink({
      controlPlane: {
        allocate: (layout) => {
          allocated++;
          return GuestMemory.fromLayout(layout);
        },
        loadDeviceState: () => {},
        resume: () => {},
      },
    });
    const t = await TcpTransport.connect({ host: '127.0.0.1', port: destination.port, maxBodyBytes: 65536 });
    const reply = new Promise<Frame>((resolve) => t.onFrame(resolve));
    t.write(
      encodeFrame(MessageType.HELLO, messages.hello, {
        versionMin: 1,
        versionMax: 1,
        intent: Intent.CHANNEL,
        sessionId: new Uint8Array(16).fill(7),
        pageSize: 4096,
        features: Feature.CHANNELS,
        guestId: '',
        regions: [{ name: 'ram0', sizeBytes: MiB }],
      }),
    );
    const frame = await reply;
    expect(frame.type).toBe(MessageType.HELLO_REJECT);
    expect(decodeBody(messages.errorReport, frame.body).code).toBe(ErrorCode.REJECTED);
    expect(allocated).toBe(0);
    t.destroy();
    await destination.close();
  });
});

describe('downtime prediction inputs', () => {
  it('counts the expected device state, sent while paused, in the predicted downtime', async () => {
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 4 * MiB }] });
    for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
    const destination = await listenSink();
    const switchovers: MigrationEvent[] = [];
    await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      maxBandwidth: 100e6,
      // 50 MB over at most 100 MB/s: at least 500 ms, more than the 300 ms limit.
      deviceStateBytes: 50e6,
      maxRounds: 2,
      controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(16) },
      onEvent: (e) => {
        if (e.type === 'switchover') switchovers.push(e);
      },
    });
    await destination.result;
    const s = switchovers[0] as Extract<MigrationEvent, { type: 'switchover' }>;
    expect(s.predictedDowntimeMs).toBeGreaterThanOrEqual(500);
    expect(s.reason).not.toBe('converged');
  });
});
