import type { MemoryLayout } from '../memory/layout.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import type { OptionalFeature } from './negotiation.ts';

/** What `probe()` takes (every option with its default). */
export interface ProbeOptions {
  /** Where the destination listens (beyond loopback: `psk`, `tls` or `insecure`). */
  readonly host: string;
  /** The destination's TCP port. */
  readonly port: number;
  /** The guest's layout (`memory.layout`): what the destination is asked to take. */
  readonly layout: MemoryLayout;
  /** The guest's name, for the destination's `admit` hook. Default empty. */
  readonly guestId?: string;
  /** Connecting, the handshake and each answer must each come within this. Default 10 s. */
  readonly timeoutMs?: number;
  /** The pre-shared key, when the destination requires one (see `MigrateOptions.psk`). Default none. */
  readonly psk?: Uint8Array;
  /** Mutual TLS, when the destination requires it (see `MigrateOptions.tls`). Default none. */
  readonly tls?: TlsOptions;
  /** Probe a host that is not loopback without `psk` or `tls` (see `MigrateOptions.insecure`). Default false. */
  readonly insecure?: boolean;
  /**
   * Also measure the link: after the destination accepts, push this many bytes of PROBE_DATA
   * (at most 256 MiB) and time them until the destination acknowledges them. 0 (default): no.
   */
  readonly measureBytes?: number;
  /**
   * The optional features the migration would ask for (`postcopy`, `resumable`, `channels`),
   * offered in the HELLO: a version 4 destination says in `features` which it takes; an older
   * one refuses the probe if it does not take one, as it would the migration. Default none.
   */
  readonly features?: readonly OptionalFeature[];
}
