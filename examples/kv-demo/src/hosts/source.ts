import {
  GuestMemory,
  type MigrationEvent,
  type MigrationHandle,
  type MigrationReport,
  plan,
  probe,
  type SourceControlPlane,
  startMigration,
  WriteBarrierTracker,
} from '@ferry/engine';
import { encodeDeviceState } from '../guest/device-state.ts';
import { KvGuest } from '../guest/kv-guest.ts';
import { MiB, PAGE_SIZE } from '../guest/layout.ts';
import type { FromSource, GuestConfig, ToSource, WireEvent } from '../ipc.ts';
import { die, launcherChannel } from './host-channel.ts';

/**
 * The SOURCE host process: owns the running guest and its memory, and runs the engine's
 * `migrate()` when the launcher says so. Its control plane hooks are where the host meets the
 * network: pause() first has the launcher hold the guest's traffic, then parks the guest.
 */
const launcher = launcherChannel<FromSource, ToSource>('source host');
/** How long the launcher may take to hold the proxy (drain requests in flight). */
const HOLD_TIMEOUT_MS = 5000;
/** How often the running migration's `status()` goes to the launcher (the console's rate chart). */
const STATUS_EVERY_MS = 100;

let memory: GuestMemory | undefined;
let tracker: WriteBarrierTracker | undefined;
let guest: KvGuest | undefined;
let handle: MigrationHandle | undefined;

launcher.on('start', (m) => {
  start(m.guest).catch((err: unknown) => die(launcher, err));
});

launcher.on('migrate', (m) => {
  if (!memory || !tracker || !guest) {
    launcher.send({ type: 'migrate-failed', code: 'NOT_STARTED', message: 'the source has no guest yet' });
    return;
  }
  runMigration(memory, tracker, guest, m).then(
    (report) => launcher.send({ type: 'migrated', report }),
    (err: unknown) => {
      const e = err as Error & { code?: string };
      launcher.send({ type: 'migrate-failed', code: e.code ?? 'ERROR', message: e.message });
    },
  );
});

launcher.on('probe', (m) => {
  if (!memory) return launcher.send({ type: 'probe-failed', code: 'NOT_STARTED', message: 'the source has no guest yet' });
  probe({ host: '127.0.0.1', port: m.port, layout: memory.layout, psk: Buffer.from(m.pskHex, 'hex'), guestId: 'kv-demo' }).then(
    (result) => launcher.send({ type: 'probed', result }),
    (err: unknown) => fail(err),
  );
});

launcher.on('plan', (m) => {
  if (!memory || !tracker) return launcher.send({ type: 'probe-failed', code: 'NOT_STARTED', message: 'the source has no guest yet' });
  if (handle) return launcher.send({ type: 'probe-failed', code: 'BUSY', message: 'a migration is running' });
  plan({
    host: '127.0.0.1',
    port: m.port,
    memory,
    tracker,
    psk: Buffer.from(m.pskHex, 'hex'),
    maxDowntimeMs: m.maxDowntimeMs,
    verify: m.verify,
    // A quarter of the default: the console waits for it.
    probeBytes: 16 * 2 ** 20,
    sampleMs: 500,
  }).then(
    (p) => launcher.send({ type: 'planned', plan: p }),
    (err: unknown) => fail(err),
  );
});

launcher.on('cancel', () => handle?.cancel(new Error('cancelled from the console')));

launcher.on('shutdown', () => {
  void Promise.resolve(guest?.stop()).finally(() => process.exit(0));
});

function fail(err: unknown): void {
  const e = err as Error & { code?: string };
  launcher.send({ type: 'probe-failed', code: e.code ?? 'ERROR', message: e.message });
}

async function start(config: GuestConfig): Promise<void> {
  const started = performance.now();
  // Mapped by the addon, so that the kernel's write tracking can check the write barrier (verify: 'auto').
  memory = GuestMemory.map({ pageSize: PAGE_SIZE, regions: [{ name: 'ram', sizeBytes: config.memoryMiB * MiB }] });
  tracker = new WriteBarrierTracker(memory.layout);
  guest = await KvGuest.start({ memory, dirty: tracker.sharedBuffers(), hostName: 'source', churnPagesPerSec: config.churnPagesPerSec });
  guest.exited.catch((err: unknown) => die(launcher, err));
  launcher.send({ type: 'guest-ready', port: guest.port, bootMs: performance.now() - started });
}

function runMigration(
  memory: GuestMemory,
  tracker: WriteBarrierTracker,
  guest: KvGuest,
  m: Extract<ToSource, { type: 'migrate' }>,
): Promise<MigrationReport> {
  const controlPlane: SourceControlPlane = {
    async pause() {
      // The guest's network first: nothing may be in flight when its vCPU stops.
      launcher.send({ type: 'hold' });
      const held = await launcher.next('held', HOLD_TIMEOUT_MS, 'the launcher to hold the proxy');
      if (!held.ok) throw new Error(`the proxy could not hold the guest's traffic: ${held.reason}`);
      await guest.pause();
    },
    resume() {
      // The migration failed before commit: the guest runs here again, and so does its traffic.
      guest.resume();
      launcher.send({ type: 'release' });
    },
    saveDeviceState() {
      return encodeDeviceState(guest.registers());
    },
    async release() {
      // The destination runs the guest now; power off our copy.
      await guest.stop();
    },
  };
  handle = startMigration({
    host: '127.0.0.1',
    port: m.port,
    memory,
    tracker,
    controlPlane,
    guestId: 'kv-demo',
    maxDowntimeMs: m.maxDowntimeMs,
    onWontConverge: m.onWontConverge,
    verify: m.verify,
    compression: m.compression,
    psk: Buffer.from(m.pskHex, 'hex'),
    maxBandwidth: m.maxBandwidth,
    channels: m.channels,
    signal: AbortSignal.timeout(m.timeoutMs),
    onEvent: (event) => launcher.send({ type: 'event', event: toWire(event) }),
  });
  const running = handle;
  const sampler = setInterval(() => launcher.send({ type: 'status', status: running.status() }), STATUS_EVERY_MS);
  return running.result.finally(() => {
    clearInterval(sampler);
    handle = undefined;
  });
}

function toWire(event: MigrationEvent): WireEvent {
  if (event.type !== 'failed') return event;
  return { type: 'failed', code: event.error.code, message: event.error.message, guestResumed: event.guestResumed };
}
