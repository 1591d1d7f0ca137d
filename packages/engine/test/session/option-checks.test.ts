import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  GuestMemory,
  type MigrateOptions,
  MigrationDestination,
  measureDirtyRate,
  migrate,
  Pacer,
  plan,
  probe,
  UsageError,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { closestName } from '../../src/util/closest-name.ts';
import { type DestinationHost, guestMemory, listenSink, MiB } from '../harness/index.ts';

/** A source control plane that records every hook it runs. */
function recordingPlane(calls: string[]) {
  return {
    pause: () => void calls.push('pause'),
    resume: () => void calls.push('resume'),
    saveDeviceState: () => {
      calls.push('saveDeviceState');
      return new Uint8Array(0);
    },
  };
}

/** Lets any connection the call opened reach the destination before asserting there was none. */
async function expectNoConnection(d: DestinationHost): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
  expect(d.events.filter((e) => e.type === 'connection')).toEqual([]);
}

/** `call` rejects at once with a UsageError of `code` whose message is `message` (or matches it). */
async function expectRefused(call: () => Promise<unknown>, code: ErrorCode, message: string | RegExp): Promise<void> {
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  expect(err).toMatchObject({ code });
  if (typeof message === 'string') expect((err as Error).message).toBe(message);
  else expect((err as Error).message).toMatch(message);
}

describe('migrate() checks its options before it claims the guest or connects', () => {
  const cases: [string, Record<string, unknown>, string | RegExp][] = [
    ['compression', { compression: 'zstd' }, "migrate(): option 'compression' must be one of off, lz4, xbzrle, adaptive; got 'zstd'"],
    ['strategy', { strategy: 'post-copy' }, "migrate(): option 'strategy' must be one of precopy, postcopy, hybrid; got 'post-copy'"],
    ['verify', { verify: 'none' }, "migrate(): option 'verify' must be one of auto, tracker, memory, sent; got 'none'"],
    [
      'maxDowntimeMs',
      { maxDowntimeMs: -5 },
      "migrate(): option 'maxDowntimeMs' must be a non-negative finite number of milliseconds; got -5",
    ],
    ['maxRounds', { maxRounds: 0 }, "migrate(): option 'maxRounds' must be a positive integer; got 0"],
    [
      'maxBandwidth',
      { maxBandwidth: '1G' },
      "migrate(): option 'maxBandwidth' must be a non-negative finite number of bytes per second (0: no cap), or a Pacer; got '1G'",
    ],
    [
      'maxBandwidth',
      { maxBandwidth: -1 },
      "migrate(): option 'maxBandwidth' must be a non-negative finite number of bytes per second (0: no cap), or a Pacer; got -1",
    ],
    ['a misspelt key', { maxDowntimeMS: 100 }, "migrate(): unknown option 'maxDowntimeMS' (did you mean maxDowntimeMs?)"],
    ['an unknown key', { zstdLevel: 3 }, "migrate(): unknown option 'zstdLevel'"],
    ['channels', { channels: 17 }, "migrate(): option 'channels' must be an integer in 1..16; got 17"],
    ['channels', { channels: 1.5 }, "migrate(): option 'channels' must be an integer in 1..16; got 1.5"],
    [
      'psk',
      { psk: new Uint8Array(0) },
      "migrate(): option 'psk' must be a non-empty Uint8Array (the pre-shared key); got a Uint8Array of 0 bytes",
    ],
    ['psk', { psk: 'secret' }, "migrate(): option 'psk' must be a non-empty Uint8Array (the pre-shared key); got 'secret'"],
    ['port', { port: 70000 }, "migrate(): option 'port' must be an integer in 1..65535; got 70000"],
    ['host', { host: '' }, "migrate(): option 'host' must be a host name or address; got ''"],
    [
      'idleTimeoutMs',
      { idleTimeoutMs: 0 },
      "migrate(): option 'idleTimeoutMs' must be a positive number of milliseconds, at most 2147483647; got 0",
    ],
    [
      'connectTimeoutMs',
      { connectTimeoutMs: 2 ** 31 },
      /^migrate\(\): option 'connectTimeoutMs' must be a positive number of milliseconds/,
    ],
    [
      'deviceStateBytes',
      { deviceStateBytes: Number.NaN },
      "migrate(): option 'deviceStateBytes' must be a whole number of bytes in 0..268435456; got NaN",
    ],
    ['signal', { signal: {} }, "migrate(): option 'signal' must be an AbortSignal; got an object"],
    ['onEvent', { onEvent: 'log' }, "migrate(): option 'onEvent' must be a function; got 'log'"],
    ['prepaging', { prepaging: 'yes' }, "migrate(): option 'prepaging' must be true or false; got 'yes'"],
    ['insecure', { insecure: 1 }, "migrate(): option 'insecure' must be true or false; got 1"],
    [
      'tls',
      { tls: { key: 'k', cert: 'c' } },
      "migrate(): option 'tls' must be { key, cert, ca } (PEM, a string or a Buffer each); 'ca' is missing",
    ],
    ['tracker', { tracker: {} }, "migrate(): option 'tracker' must implement DirtyTracker (kind, start, sync, stop); 'kind' is missing"],
    ['tracker', { tracker: undefined }, "migrate(): option 'tracker' must implement DirtyTracker (kind, start, sync, stop); got undefined"],
    [
      'a control plane without saveDeviceState',
      { controlPlane: { pause: () => {}, resume: () => {} } },
      "migrate(): option 'controlPlane' must be a SourceControlPlane with pause, resume and saveDeviceState as functions; 'saveDeviceState' is missing",
    ],
    [
      'a control plane with a hook that is not a function',
      { controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: new Uint8Array(0) } },
      "migrate(): option 'controlPlane.saveDeviceState' must be a function; got a Uint8Array of 0 bytes",
    ],
    [
      'an optional hook that is not a function',
      { controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(0), release: true } },
      "migrate(): option 'controlPlane.release' must be a function; got true",
    ],
    ['memory that is not a GuestMemory', { memory: new Uint8Array(4096) }, /^migrate\(\): option 'memory' must be a GuestMemory/],
    [
      'a region over a plain ArrayBuffer',
      { memory: GuestMemory.wrap({ regions: [{ name: 'ram0', bytes: new Uint8Array(new ArrayBuffer(MiB)) }] }) },
      /^migrate\(\): option 'memory' has region 'ram0' over a plain ArrayBuffer/,
    ],
    [
      'channels with pre-copy recovery',
      { channels: 4, precopyRecoveryMs: 1000 },
      "migrate(): option 'precopyRecoveryMs' works over one channel only, for now; got channels: 4",
    ],
    [
      'batchPages',
      { batchPages: 4077 },
      "migrate(): option 'batchPages' must be at most 4076 for pages of 4096 bytes (a frame holds 16 MiB); got 4077",
    ],
  ];

  it.each(cases)('refuses %s with FERRY_INVALID_ARGUMENT naming the option, touching nothing', async (_what, bad, message) => {
    const d = await listenSink();
    const memory = guestMemory(MiB);
    const tracker = new WriteBarrierTracker(memory.layout);
    const calls: string[] = [];
    const options = { host: '127.0.0.1', port: d.port, memory, tracker, controlPlane: recordingPlane(calls), ...bad };
    await expectRefused(() => migrate(options as MigrateOptions), ErrorCode.INVALID_ARGUMENT, message);
    await expectNoConnection(d);
    expect(calls).toEqual([]);
    // The guest was not claimed: it can be sampled at once.
    await expect(measureDirtyRate({ tracker, layout: memory.layout, durationMs: 5 })).resolves.toMatchObject({ workingSetPages: 0 });
  });

  it('refuses an options value that is not an object', async () => {
    await expectRefused(
      () => migrate(undefined as unknown as MigrateOptions),
      ErrorCode.INVALID_ARGUMENT,
      'migrate() takes an options object; got undefined',
    );
  });

  it('refuses unmapped memory', async () => {
    const memory = guestMemory(MiB, { backing: 'mapped' });
    const tracker = new WriteBarrierTracker(memory.layout);
    memory.unmap();
    await expectRefused(
      () => migrate({ host: '127.0.0.1', port: 9, memory, tracker, controlPlane: recordingPlane([]) }),
      ErrorCode.INVALID_ARGUMENT,
      "migrate(): option 'memory' has region 'ram0' unmapped (memory.unmap() was called)",
    );
  });

  it('takes every valid kind of value: a Pacer for maxBandwidth, undefined for an optional option', async () => {
    const d = await listenSink();
    const memory = guestMemory(MiB, { fill: 'pattern' });
    const tracker = new WriteBarrierTracker(memory.layout);
    const report = await migrate({
      host: 'localhost',
      port: d.port,
      memory,
      tracker,
      controlPlane: recordingPlane([]),
      maxBandwidth: new Pacer(0),
      compression: 'lz4',
      strategy: 'precopy',
      verify: 'sent',
      maxDowntimeMs: 0,
      onWontConverge: 'switchover',
      convergeTimeoutMs: 60_000,
      channels: 2,
      insecure: false,
      guestId: undefined,
    } as unknown as MigrateOptions);
    expect(report.digest).toBe((await d.result).digest);
  });
});

describe('the other entry points check their options first too', () => {
  it('probe({ memory }) says to pass the layout', async () => {
    const d = await listenSink();
    const memory = guestMemory(MiB);
    await expectRefused(
      () => probe({ host: '127.0.0.1', port: d.port, memory } as unknown as Parameters<typeof probe>[0]),
      ErrorCode.INVALID_ARGUMENT,
      "probe(): unknown option 'memory' (probe() takes layout: memory.layout)",
    );
    await expectRefused(
      () => probe({ host: '127.0.0.1', port: d.port } as unknown as Parameters<typeof probe>[0]),
      ErrorCode.INVALID_ARGUMENT,
      "probe(): option 'layout' is required",
    );
    await expectRefused(
      () => probe({ host: '127.0.0.1', port: d.port, layout: { pageSize: 1000, regions: [{ name: 'ram0', sizeBytes: 4000 }] } }),
      ErrorCode.INVALID_ARGUMENT,
      "probe(): option 'layout' is not a layout a guest can have: page size 1000 is not a power of two in 4096..2097152",
    );
    await expectRefused(
      () => probe({ host: '127.0.0.1', port: d.port, layout: memory.layout, measureBytes: 512 * MiB }),
      ErrorCode.INVALID_ARGUMENT,
      "probe(): option 'measureBytes' must be a whole number of bytes in 0..268435456; got 536870912",
    );
    await expectNoConnection(d);
  });

  it('plan() refuses bad options before it connects or samples the guest', async () => {
    const d = await listenSink();
    const memory = guestMemory(MiB);
    const tracker = new WriteBarrierTracker(memory.layout);
    const base = { host: '127.0.0.1', port: d.port, memory, tracker };
    await expectRefused(
      () => plan({ ...base, maxRounds: 0 }),
      ErrorCode.INVALID_ARGUMENT,
      "plan(): option 'maxRounds' must be a positive integer; got 0",
    );
    await expectRefused(
      () => plan({ ...base, verify: 'none' as 'sent' }),
      ErrorCode.INVALID_ARGUMENT,
      "plan(): option 'verify' must be one of auto, tracker, memory, sent; got 'none'",
    );
    await expectRefused(
      () => plan({ ...base, sampelMs: 10 } as Parameters<typeof plan>[0]),
      ErrorCode.INVALID_ARGUMENT,
      "plan(): unknown option 'sampelMs' (did you mean sampleMs?)",
    );
    await expectNoConnection(d);
    await expect(measureDirtyRate({ tracker, layout: memory.layout, durationMs: 5 })).resolves.toMatchObject({ workingSetPages: 0 });
  });

  it('MigrationDestination.listen() refuses bad options before it binds', async () => {
    const plane = { loadDeviceState: () => {}, resume: () => {} };
    await expectRefused(
      () =>
        MigrationDestination.listen({ controlPlane: { resume: () => {} } } as unknown as Parameters<typeof MigrationDestination.listen>[0]),
      ErrorCode.INVALID_ARGUMENT,
      "MigrationDestination.listen(): option 'controlPlane' must be a DestinationControlPlane with loadDeviceState and resume as functions; 'loadDeviceState' is missing",
    );
    await expectRefused(
      () => MigrationDestination.listen({ controlPlane: plane, port: -1 }),
      ErrorCode.INVALID_ARGUMENT,
      "MigrationDestination.listen(): option 'port' must be an integer in 0..65535; got -1",
    );
    await expectRefused(
      () => MigrationDestination.listen({ controlPlane: plane, postcopyFaults: 'uffd' as 'userfaultfd' }),
      ErrorCode.INVALID_ARGUMENT,
      "MigrationDestination.listen(): option 'postcopyFaults' must be one of cooperative, userfaultfd; got 'uffd'",
    );
    await expectRefused(
      () => MigrationDestination.listen({ controlPlane: plane, pageSizes: [4096, 3000] }),
      ErrorCode.INVALID_ARGUMENT,
      "MigrationDestination.listen(): option 'pageSizes.1' must be a power of two in 4096..2097152; got 3000",
    );
    await expectRefused(
      () => MigrationDestination.listen({ controlPlane: plane, hots: '127.0.0.1' } as Parameters<typeof MigrationDestination.listen>[0]),
      ErrorCode.INVALID_ARGUMENT,
      "MigrationDestination.listen(): unknown option 'hots' (did you mean host?)",
    );
  });
});

describe('secure by default', () => {
  const plane = { loadDeviceState: () => {}, resume: () => {} };

  it('refuses to listen on every interface without psk or tls, and listens with insecure: true or a psk', async () => {
    for (const host of ['0.0.0.0', '::']) {
      await expectRefused(
        () => MigrationDestination.listen({ controlPlane: plane, host }),
        ErrorCode.INSECURE,
        new RegExp(
          `^MigrationDestination\\.listen\\(\\): ${host.replace('.', '\\.')} is not loopback, and without psk or tls the first peer`,
        ),
      );
    }
    const open = await MigrationDestination.listen({ controlPlane: plane, host: '0.0.0.0', insecure: true });
    await open.close();
    const keyed = await MigrationDestination.listen({ controlPlane: plane, host: '0.0.0.0', psk: new Uint8Array(32).fill(7) });
    await keyed.close();
    // Loopback needs nothing.
    const local = await MigrationDestination.listen({ controlPlane: plane, host: '127.0.0.1' });
    await local.close();
  });

  it('refuses to migrate, probe or plan to a host beyond loopback without psk or tls, before connecting', async () => {
    // 10.255.255.1 is never contacted: the check runs before any connection.
    const memory = guestMemory(MiB);
    const tracker = new WriteBarrierTracker(memory.layout);
    const calls: string[] = [];
    const far = { host: '10.255.255.1', port: 7070 };
    await expectRefused(
      () => migrate({ ...far, memory, tracker, controlPlane: recordingPlane(calls) }),
      ErrorCode.INSECURE,
      'migrate(): 10.255.255.1 is not loopback, and without psk or tls anyone who answers there gets the guest, sent in the clear; ' +
        'give both sides psk or tls, or set insecure: true on a network you trust',
    );
    await expectRefused(() => probe({ ...far, layout: memory.layout }), ErrorCode.INSECURE, /^probe\(\): 10\.255\.255\.1 is not loopback/);
    await expectRefused(() => plan({ ...far, memory, tracker }), ErrorCode.INSECURE, /^plan\(\): 10\.255\.255\.1 is not loopback/);
    await expectRefused(
      () => migrate({ ...far, host: 'dest.example', memory, tracker, controlPlane: recordingPlane(calls) }),
      ErrorCode.INSECURE,
      /^migrate\(\): dest\.example is not loopback/,
    );
    expect(calls).toEqual([]);
  });
});

describe('closestName', () => {
  it('finds a name that differs by case or up to two edits, and nothing further off', () => {
    const names = ['maxDowntimeMs', 'maxRounds', 'maxBandwidth', 'channels'];
    expect(closestName('maxDowntimeMS', names)).toBe('maxDowntimeMs');
    expect(closestName('maxRound', names)).toBe('maxRounds');
    expect(closestName('chanels', names)).toBe('channels');
    expect(closestName('chnanels', names)).toBe('channels');
    expect(closestName('bandwidth', names)).toBeUndefined();
  });
});
