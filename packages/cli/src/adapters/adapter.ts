import type { DestinationControlPlane, DirtyTracker, GuestMemory, SourceControlPlane } from '@ferry/engine';

/** The adapter options `ferry` passes through (`--image`, `--out`, `--size-mib`, ...), as typed. */
export interface AdapterOptions {
  /** `raw`: the memory image file to migrate from. */
  readonly image?: string | undefined;
  /** `raw`: the file the received memory becomes (refused if it exists, unless `force`). */
  readonly out?: string | undefined;
  readonly force?: boolean | undefined;
  /** `raw`: the process writing the image (SIGSTOP to pause, SIGCONT to resume, SIGKILL on release). */
  readonly pid?: number | undefined;
  /** `raw`: a file holding the device state to send, or to write the received one to. */
  readonly deviceState?: string | undefined;
  /** `kv`: guest memory in MiB. */
  readonly sizeMiB?: number | undefined;
  /** `kv`: pages the guest's background churn rewrites per second. */
  readonly churn?: number | undefined;
  /** `qemu`: the QEMU's QMP (monitor) unix socket. */
  readonly qmp?: string | undefined;
  /** `qemu`: the QEMU's RAM file (its `memory-backend-file`, share=on). */
  readonly ram?: string | undefined;
}

/** A guest on the source host, ready to migrate. */
export interface SourceGuest {
  readonly memory: GuestMemory;
  readonly tracker: DirtyTracker;
  readonly controlPlane: SourceControlPlane;
  /** The guest id sent in HELLO. */
  readonly guestId: string;
  /** What a user wants to know about it (`ferry` prints it): the kv guest's port, the image's path. */
  readonly info: Readonly<Record<string, unknown>>;
  /** Stops whatever the adapter started (a guest that was not migrated keeps its memory). */
  close(): Promise<void>;
}

/** How a destination host takes a guest of this kind. */
export interface DestinationGuest {
  /** The hooks `MigrationDestination.listen()` gets. */
  readonly controlPlane: DestinationControlPlane;
  /** What the user wants to know once the guest runs here. */
  info(): Readonly<Record<string, unknown>>;
  /** Whether the guest keeps running here after the migration (`ferry listen` then waits for a signal). */
  readonly runsGuest: boolean;
  close(): Promise<void>;
}

/**
 * Where a guest comes from and goes to: `ferry migrate` gets a `SourceGuest` from it, `ferry
 * listen` a `DestinationGuest`. Three implement it: `raw` (a memory image file), `kv` (the
 * demo's guest) and `qemu` (a QEMU VM: its RAM file and QMP socket). Another VMM's adapter
 * implements this and is added to `adapters/index.ts`.
 */
export interface GuestAdapter {
  readonly name: string;
  readonly summary: string;
  source(options: AdapterOptions): Promise<SourceGuest>;
  destination(options: AdapterOptions): Promise<DestinationGuest>;
}
