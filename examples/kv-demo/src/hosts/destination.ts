import { type GuestMemory, type IncomingGuest, MigrationDestination, WriteBarrierTracker } from '@ferry/engine';
import { checkRegisters, decodeDeviceState } from '../guest/device-state.ts';
import { KvGuest, type PreparedGuest } from '../guest/kv-guest.ts';
import { MiB, PAGE_SIZE, readSuperblock } from '../guest/layout.ts';
import type { Registers } from '../guest/registers.ts';
import { type FromDestination, type GuestConfig, InjectedFailure, type ToDestination } from '../ipc.ts';
import { die, launcherChannel } from './host-channel.ts';

/**
 * The DESTINATION host process: listens for the migration, checks the device state against
 * the memory that arrived, and on resume() starts a NEW guest worker over that memory with the
 * migrated registers. The guest has nothing else to go on, so a guest that answers correctly
 * here proves its memory and registers moved.
 */
const launcher = launcherChannel<FromDestination, ToDestination>('destination host');
/** How long resume() waits for the launcher to repoint the guest's network at us. */
const REPOINT_TIMEOUT_MS = 5000;

let guest: KvGuest | undefined;

launcher.on('start', (m) => {
  listen(m.guest, m.inject, Buffer.from(m.pskHex, 'hex'), m.pageSizes).catch((err: unknown) => die(launcher, err));
});

launcher.on('shutdown', () => {
  void Promise.resolve(guest?.stop()).finally(() => process.exit(0));
});

async function listen(config: GuestConfig, inject: InjectedFailure, psk: Uint8Array, pageSizes?: readonly number[]): Promise<void> {
  const memoryBytes = config.memoryMiB * MiB;
  let registers: Registers | undefined;
  let prepared: PreparedGuest | undefined;
  // The guest's thread is started and its code loaded now, so that resume() is quick.
  const loaded = await KvGuest.load();
  const destination = await MigrationDestination.listen({
    host: '127.0.0.1',
    // Only a source that proves it holds the key the control plane handed out gets in.
    psk,
    // The engine refuses a guest of any other page size (FERRY_INCOMPATIBLE_GUEST), as a host with 16 KiB pages would.
    ...(pageSizes && { pageSizes }),
    controlPlane: {
      admit(incoming: IncomingGuest) {
        const [ram, ...more] = incoming.layout.regions;
        if (incoming.layout.pageSize !== PAGE_SIZE || !ram || more.length > 0 || ram.sizeBytes !== memoryBytes) {
          return `this host takes a key-value guest of one ${config.memoryMiB} MiB region`;
        }
        return undefined;
      },
      loadDeviceState(state: Uint8Array, memory: GuestMemory) {
        if (inject === InjectedFailure.LOAD_DEVICE_STATE) throw new Error('injected failure: device state refused');
        const regs = decodeDeviceState(state);
        const bytes = memory.region(0).bytes;
        checkRegisters(regs, readSuperblock(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), memoryBytes));
        registers = regs;
      },
      async prepare(memory: GuestMemory) {
        // While pre-copy runs: the guest's thread attaches to its memory and opens its socket,
        // so that resume() only hands it its registers.
        const tracker = new WriteBarrierTracker(memory.layout);
        prepared = await loaded.prepare({
          memory,
          dirty: tracker.sharedBuffers(),
          hostName: 'destination',
          churnPagesPerSec: config.churnPagesPerSec,
          boot: false,
        });
      },
      async resume() {
        if (!registers || !prepared) throw new Error('resume() before prepare() and loadDeviceState()');
        guest = await prepared.start({ ...registers, generation: registers.generation + 1 });
        guest.exited.catch((err: unknown) => die(launcher, err));
        const { port, keys, generation, startMs } = guest.ready;
        launcher.send({ type: 'guest-ready', port, keys, generation, startMs });
        // Downtime ends when clients reach the guest here, so wait for the network switch too.
        await launcher.next('repointed', REPOINT_TIMEOUT_MS, 'the launcher to repoint the proxy').catch((err: unknown) => {
          console.error(`destination host: ${(err as Error).message}; the guest runs here regardless`);
        });
      },
    },
  });
  launcher.send({ type: 'listening', port: destination.port });
  destination.result.then(
    (incoming) =>
      launcher.send({
        type: 'incoming',
        digest: incoming.digest,
        pagesReceived: incoming.pagesReceived,
        bytesReceived: incoming.bytesReceived,
        rounds: incoming.rounds,
        deviceStateBytes: incoming.deviceState.byteLength,
      }),
    (err: unknown) => {
      const e = err as Error & { code?: string };
      launcher.send({ type: 'incoming-failed', code: e.code ?? 'ERROR', message: e.message });
    },
  );
}
