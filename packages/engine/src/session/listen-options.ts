import type { Kernels } from '../accel/kernels.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import type { Clock } from '../util/clock.ts';
import type { DestinationControlPlane } from './control-plane.ts';
import type { DestinationEvent } from './events.ts';
import type { OptionalEncoding, OptionalFeature } from './negotiation.ts';
import type { FaultStats } from './report.ts';

/** What `MigrationDestination.listen()` takes (every option with its default). */
export interface ListenOptions {
  /** The hooks through which the engine admits, loads and resumes the incoming guest. */
  readonly controlPlane: DestinationControlPlane;
  /** Default 127.0.0.1 (loopback). Any other address needs `psk`, `tls` or `insecure: true`. */
  readonly host?: string;
  /** Default 0: the OS picks; read `port` afterwards. */
  readonly port?: number;
  /** Page sizes in bytes this host can run; a guest with another is refused at the handshake. Default: any. */
  readonly pageSizes?: readonly number[];
  /**
   * A pre-shared key: only sources that prove they know it are taken, and we prove it to them,
   * before anything is allocated. Without one (nor `tls`), any source that speaks the protocol is
   * taken, which is why listening beyond loopback then needs `insecure: true`. Default none.
   */
  readonly psk?: Uint8Array;
  /**
   * Mutual TLS: present `cert`, require a client certificate that chains to `ca`. A peer that
   * fails the TLS handshake never reaches the protocol. Default none.
   */
  readonly tls?: TlsOptions;
  /**
   * Listen on a host that is not loopback (127.0.0.0/8, ::1, `localhost`; the wildcards
   * `0.0.0.0` and `::` are not) without `psk` or `tls`: then the first peer to connect takes
   * this destination's one migration. Default false: such a call fails at once with
   * `FERRY_INSECURE`. Set it only on a network you trust.
   */
  readonly insecure?: boolean;
  /**
   * How a guest waits for pages still missing in post-copy:
   * - `cooperative` (default): it calls `PostcopyPager.ensure` (or `PostcopyAccess.ensure`)
   *   before touching a page.
   * - `userfaultfd`: real page faults (Linux): an unmodified guest thread that touches a
   *   missing page blocks in the kernel until it arrives. Needs anonymous memory the addon
   *   mapped: allocate it with `GuestMemory.map` in the `allocate` hook.
   */
  readonly postcopyFaults?: 'cooperative' | 'userfaultfd';
  /**
   * How long an interrupted post-copy waits for the source to reconnect before giving up with
   * `FERRY_POSTCOPY_INTERRUPTED` (keeping everything). Default 30 s.
   */
  readonly recoveryTimeoutMs?: number;
  /**
   * The optional features this destination takes: `postcopy` (POSTCOPY), `resumable` (a broken
   * pre-copy connection is recovered), `channels` (extra data channels). A version 4 source
   * adapts to what is left out (or fails with `FERRY_FEATURE_REFUSED` where it cannot); a
   * version 1–3 source that asks for one is refused with `FERRY_INCOMPATIBLE_GUEST`.
   * Default all three.
   */
  readonly acceptFeatures?: readonly OptionalFeature[];
  /**
   * The optional page encodings this destination decodes, announced to version 4 sources:
   * `lz4`, `xbzrle`, `dedup` (RAW and ZERO always). A batch using another fails the migration
   * with `FERRY_FRAME_MALFORMED`; a version 1–3 source is not told, so it can still send one.
   * Default all three.
   */
  readonly acceptEncodings?: readonly OptionalEncoding[];
  /**
   * The largest frame body this destination takes after the handshake, announced in
   * HELLO_ACCEPT; a larger one fails the migration with `FERRY_FRAME_TOO_LARGE` before it is
   * buffered. Raised to what one page needs (64 KiB or the page size plus 4 KiB). Default 16 MiB
   * (`MAX_FRAME_BODY_BYTES`), in bytes.
   */
  readonly maxFrameBodyBytes?: number;
  /** Refuse guests larger than this. Default 16 GiB. */
  readonly maxGuestBytes?: number;
  /** Refuse device state larger than this. Default 256 MiB. */
  readonly maxDeviceStateBytes?: number;
  /** A connection must complete its HELLO within this. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** A migration that sends nothing for this long fails. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Once a frame's first byte has arrived, the whole frame must arrive within this plus its size
   * at 32 KiB/s (`MIN_FRAME_RATE_BYTES_PER_SEC`), or the connection fails with FERRY_TIMEOUT:
   * a peer trickling bytes cannot hold a frame open. Default 10 s (`FRAME_DEADLINE_MS`); see
   * docs/limits.md before lowering it.
   */
  readonly frameDeadlineMs?: number;
  /** Hashing kernels. Default: the native addon if it loads, else the TypeScript fallback. */
  readonly kernels?: Kernels;
  /** Receives every `DestinationEvent`; a listener that throws is ignored. Default none. */
  readonly onEvent?: (event: DestinationEvent) => void;
  /** The time source, for tests. Default the system's monotonic clock. */
  readonly clock?: Clock;
}

/** What the destination ends up with after a successful migration. */
export interface IncomingMigration {
  readonly guestId: string;
  readonly sessionId: string;
  readonly memory: GuestMemory;
  readonly deviceState: Uint8Array;
  readonly digest: string;
  readonly pagesReceived: number;
  readonly bytesReceived: number;
  readonly rounds: number;
  /**
   * Times the source reconnected after a broken connection (pre-copy or post-copy), up to the
   * moment this report was made. After post-copy the source may reconnect once more, only to ask
   * again for a lost POSTCOPY_DONE: that shows as a `recovered` event and in the source's count.
   */
  readonly recoveries: number;
  /** Connections pages came on: the control connection and the data channels. */
  readonly channels: number;
  /** Set when the guest resumed here before all its pages had arrived. */
  readonly postcopy?: FaultStats & { readonly missingPages: number; readonly durationMs: number; readonly recoveries: number };
}
