import { type GuestMemory, GuestMemory as Memory, WriteBarrierTracker } from '@ferry/engine';
import { UsageError } from '../usage-error.ts';
import type { AdapterOptions, DestinationGuest, GuestAdapter, SourceGuest } from './adapter.ts';

/** What this adapter uses of the demo's guest module (examples/kv-demo/src/guest/index.ts). */
interface KvRegisters {
  readonly generation: number;
}
interface RunningKvGuest {
  readonly port: number;
  readonly ready: { readonly keys: number; readonly generation: number };
  pause(): Promise<void>;
  resume(): void;
  registers(): KvRegisters;
  stop(): Promise<void>;
}
interface KvGuestOptions {
  readonly memory: GuestMemory;
  readonly dirty: SharedArrayBuffer[];
  readonly hostName: string;
  readonly churnPagesPerSec: number;
  readonly registers?: KvRegisters;
}
interface KvModule {
  readonly KvGuest: {
    start(options: KvGuestOptions): Promise<RunningKvGuest>;
    load(): Promise<{ run(options: KvGuestOptions): Promise<RunningKvGuest>; terminate(): Promise<void> }>;
  };
  encodeDeviceState(registers: KvRegisters): Uint8Array;
  decodeDeviceState(bytes: Uint8Array): KvRegisters;
  checkRegisters(registers: KvRegisters, layout: unknown): void;
  readSuperblock(view: DataView, memoryBytes: number): unknown;
  readonly PAGE_SIZE: number;
  readonly MiB: number;
  readonly MIN_MEMORY_MIB: number;
}

/**
 * The demo's guest lives in the example package: there in a Ferry checkout, not in an install.
 * Loaded by name at run time, so that the command builds and installs without it.
 */
const KV_MODULE = '@ferry/example-kv-demo/guest';

async function kvModule(): Promise<KvModule> {
  try {
    return (await import(KV_MODULE)) as KvModule;
  } catch (err) {
    throw new UsageError(`--guest kv needs the kv demo's guest (examples/kv-demo, in a Ferry checkout): ${(err as Error).message}`);
  }
}

/**
 * The demo's key-value guest (examples/kv-demo): a store in guest memory, served on a TCP port
 * (`SET k v` / `GET k` lines), with a churn that rewrites pages in the background. The source
 * boots one; the destination checks its registers against the memory that arrived and runs it
 * on, serving on a port of its own, until `ferry listen` gets SIGINT or SIGTERM.
 */
export const kvAdapter: GuestAdapter = {
  name: 'kv',
  summary: "the demo's key-value guest, booted here (--size-mib, --churn pages/s)",

  async source(o: AdapterOptions): Promise<SourceGuest> {
    const kv = await kvModule();
    const sizeMiB = o.sizeMiB ?? 64;
    if (sizeMiB < kv.MIN_MEMORY_MIB) throw new UsageError(`--size-mib must be at least ${kv.MIN_MEMORY_MIB} for the kv guest`);
    const memory = Memory.create({ pageSize: kv.PAGE_SIZE, regions: [{ name: 'ram', sizeBytes: sizeMiB * kv.MiB }] });
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = await kv.KvGuest.start({ memory, dirty: tracker.sharedBuffers(), hostName: 'source', churnPagesPerSec: o.churn ?? 2000 });
    return {
      memory,
      tracker,
      guestId: 'kv',
      info: { guestPort: guest.port, sizeMiB },
      controlPlane: {
        pause: () => guest.pause(),
        resume: () => guest.resume(),
        saveDeviceState: () => kv.encodeDeviceState(guest.registers()),
        release: () => guest.stop(),
      },
      close: () => guest.stop(),
    };
  },

  async destination(o: AdapterOptions): Promise<DestinationGuest> {
    const kv = await kvModule();
    const loaded = await kv.KvGuest.load();
    let registers: KvRegisters | undefined;
    let guest: RunningKvGuest | undefined;
    return {
      runsGuest: true,
      info: () => (guest ? { guestPort: guest.port, keys: guest.ready.keys, generation: guest.ready.generation } : {}),
      controlPlane: {
        admit(incoming) {
          const [ram, ...more] = incoming.layout.regions;
          if (incoming.layout.pageSize !== kv.PAGE_SIZE || !ram || more.length > 0)
            return 'a key-value guest has one region of 4 KiB pages';
          if (o.sizeMiB !== undefined && ram.sizeBytes !== o.sizeMiB * kv.MiB) return `this host takes a ${o.sizeMiB} MiB key-value guest`;
          return undefined;
        },
        loadDeviceState(state: Uint8Array, memory: GuestMemory) {
          const regs = kv.decodeDeviceState(state);
          const bytes = memory.region(0).bytes;
          kv.checkRegisters(regs, kv.readSuperblock(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength));
          registers = regs;
        },
        async resume(memory: GuestMemory) {
          if (!registers) throw new Error('resume() before loadDeviceState()');
          const tracker = new WriteBarrierTracker(memory.layout);
          guest = await loaded.run({
            memory,
            dirty: tracker.sharedBuffers(),
            hostName: 'destination',
            churnPagesPerSec: o.churn ?? 2000,
            registers: { ...registers, generation: registers.generation + 1 },
          });
        },
      },
      close: async () => {
        if (guest) await guest.stop();
        else await loaded.terminate();
      },
    };
  },
};
