import type { BatchDecoder } from '../codec/batch-decoder.ts';
import type { FerryError } from '../errors.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { DIGEST_WITHHELD_MIN_VERSION } from '../protocol/constants.ts';
import { MAX_DEVICE_STATE_BYTES } from '../protocol/limits.ts';
import type * as msg from '../protocol/messages.ts';
import type { TcpTransport } from '../transport/tcp.ts';
import { toHex } from '../util/bytes.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Deferred, deferred } from '../util/deferred.ts';
import type { PostcopyAccess } from './control-plane.ts';
import { DeviceStateAssembler } from './device-state.ts';
import type { DestinationEvent } from './events.ts';
import type { IncomingMigration, ListenOptions } from './listen-options.ts';
import type { SessionTerms } from './negotiation.ts';
import type { FaultStats } from './report.ts';
import { RoundNumbers } from './round-numbers.ts';
import { DESTINATION_TRANSITIONS, type DestinationPhase, StateMachine } from './state-machine.ts';
import { logger } from '../util/log.ts';
import { loggable } from './loggable.ts';

const log = logger('session');

/** What the destination's phases need of post-copy's receiver, once POSTCOPY_ENTER arrived. */
export interface PostcopyPort {
  /** Pages not here yet. */
  readonly missingPages: number;
  /** Which pages are here, per region (a reconnection's map is its complement). */
  readonly presence: { readonly regions: readonly ArrayLike<number>[] };
  /** The access the control plane's resume hook gets. */
  access(complete: Promise<void>): PostcopyAccess;
  /** After a reconnection: ask again for the pages guests wait for. */
  resendRequests(): void;
  /** Every page is here, or the guest never ran here: release the fault machinery. */
  close(): void;
  stats(): FaultStats;
}

/**
 * One accepted migration on the destination, as every phase sees it: the options, the phase,
 * the current control connection and the data channels, the guest's memory and decoder, the
 * device state as it arrives, and how the migration ends (`fail`, `done`). Phases read and
 * advance it; none keeps state of the migration elsewhere.
 */
export class DestinationContext {
  readonly o: ListenOptions;
  readonly clock: Clock;
  readonly phase: StateMachine<DestinationPhase>;
  readonly hello: msg.Hello;
  /** The session's protocol version (the highest both sides speak). */
  readonly version: number;
  /** What HELLO_ACCEPT announced: the frame limit, and the features and encodings taken. */
  readonly terms: SessionTerms;
  /** Round numbers as the source sends them, checked from version 4 on. */
  readonly roundNumbers: RoundNumbers;
  readonly memory: GuestMemory;
  readonly decoder: BatchDecoder;
  readonly deviceState: DeviceStateAssembler;
  /** The control connection; replaced when the source reconnects. */
  transport: TcpTransport;
  /** Extra data channels, once joined. */
  readonly channels: TcpTransport[] = [];
  /** Set from POSTCOPY_ENTER on. */
  postcopy: PostcopyPort | undefined;
  /** Settles when post-copy has every page and the digest matched (or rejects when it breaks). */
  readonly postcopyComplete: Deferred<void> = deferred<void>();
  /** When the guest was resumed here (post-copy's figures count from it). */
  resumedAtMs = 0;
  digest = 0n;
  verifyMs = 0;
  /** The control plane's `prepare`, running alongside pre-copy; the handover waits for it. */
  prepared: Promise<void> = Promise.resolve();
  rounds = 0;
  recoveries = 0;
  /** Ends the migration with a failure (`tellSource`: send FAILED first); set by the session. */
  fail: (error: FerryError, tellSource: boolean) => void = () => {};
  private readonly finish: (result: IncomingMigration | FerryError) => void;

  constructor(c: {
    options: ListenOptions;
    transport: TcpTransport;
    hello: msg.Hello;
    terms: SessionTerms;
    memory: GuestMemory;
    decoder: BatchDecoder;
    done: (result: IncomingMigration | FerryError) => void;
  }) {
    this.o = c.options;
    this.clock = c.options.clock ?? systemClock;
    this.transport = c.transport;
    this.hello = c.hello;
    this.terms = c.terms;
    this.version = c.terms.version;
    this.memory = c.memory;
    this.decoder = c.decoder;
    this.finish = c.done;
    this.roundNumbers = new RoundNumbers(this.version);
    this.deviceState = new DeviceStateAssembler(c.options.maxDeviceStateBytes ?? MAX_DEVICE_STATE_BYTES);
    this.phase = new StateMachine<DestinationPhase>('handshake', DESTINATION_TRANSITIONS, (from, to) =>
      this.emit({ type: 'phase', from, to }),
    );
  }

  /** Settles the destination's `result`. */
  done(result: IncomingMigration | FerryError): void {
    this.finish(result);
  }

  /**
   * Whether COMPLETE's digest is the source's to compare here: up to version 2 it always is; from
   * version 3 the source withholds it (0) and compares ours from READY or POSTCOPY_DONE itself.
   */
  sourceDigestGiven(digest: bigint): boolean {
    return this.version < DIGEST_WITHHELD_MIN_VERSION || digest !== 0n;
  }

  /** Bytes received on every connection of the migration. */
  bytesReceived(): number {
    return this.transport.bytesRead + this.channels.reduce((n, c) => n + c.bytesRead, 0);
  }

  /** What the destination ends up with, less post-copy's figures. */
  result(): IncomingMigration {
    return {
      guestId: this.hello.guestId,
      sessionId: Buffer.from(this.hello.sessionId).toString('hex'),
      memory: this.memory,
      deviceState: this.deviceState.bytes,
      digest: toHex(this.digest),
      pagesReceived: this.decoder.pagesApplied,
      bytesReceived: this.transport.bytesRead,
      rounds: this.rounds,
      recoveries: this.recoveries,
      channels: 1 + this.channels.length,
    };
  }

  /** Every event goes through here: a listener that throws must not fail the migration. */
  emit(event: DestinationEvent): void {
    if (log.enabled) log('destination %s %o', event.type, loggable(event));
    try {
      this.o.onEvent?.(event);
    } catch {
      // A listener's bug must not fail the migration.
    }
  }
}
