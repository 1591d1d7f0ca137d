import { ErrorCode, MigrationError } from '../errors.ts';

/**
 * A tiny explicit state machine: the allowed transitions are data, and an illegal transition
 * throws instead of leaving the migration in a state nobody designed.
 */
export class StateMachine<S extends string> {
  private current: S;
  private readonly allowed: Readonly<Record<S, readonly S[]>>;
  private readonly onChange: ((from: S, to: S) => void) | undefined;

  constructor(initial: S, allowed: Readonly<Record<S, readonly S[]>>, onChange?: (from: S, to: S) => void) {
    this.current = initial;
    this.allowed = allowed;
    this.onChange = onChange;
  }

  get state(): S {
    return this.current;
  }

  is(...states: S[]): boolean {
    return states.includes(this.current);
  }

  to(next: S): void {
    if (!this.allowed[this.current].includes(next)) {
      throw new MigrationError(ErrorCode.INVALID_STATE, `illegal transition ${this.current} -> ${next}`);
    }
    const from = this.current;
    this.current = next;
    this.onChange?.(from, next);
  }
}

/** Source phases. `committed` is the point of no return: the destination may now run the guest. */
export type SourcePhase =
  | 'connecting'
  | 'handshake'
  | 'precopy'
  | 'paused'
  | 'committed'
  /** Post-copy: the guest runs on the destination; this host still holds the pages it lacks. */
  | 'postcopy'
  | 'completed'
  | 'failed'
  | 'outcome-unknown';

export const SOURCE_TRANSITIONS: Readonly<Record<SourcePhase, readonly SourcePhase[]>> = {
  connecting: ['handshake', 'failed'],
  handshake: ['precopy', 'failed'],
  precopy: ['paused', 'failed'],
  paused: ['committed', 'failed'],
  // `failed` from `committed` only when the destination says it never received COMMIT.
  committed: ['completed', 'postcopy', 'outcome-unknown', 'failed'],
  postcopy: ['completed', 'outcome-unknown'],
  completed: [],
  failed: [],
  'outcome-unknown': [],
};

/** Destination phases. */
export type DestinationPhase =
  | 'handshake'
  | 'receiving'
  | 'switchover'
  /** POSTCOPY_ENTER received: missing-page maps and device state arrive, the guest is paused on the source. */
  | 'postcopy-switchover'
  | 'verifying'
  | 'ready'
  | 'resuming'
  /** The guest runs here; missing pages arrive on request and in the background. */
  | 'postcopy'
  | 'resumed'
  | 'failed';

export const DESTINATION_TRANSITIONS: Readonly<Record<DestinationPhase, readonly DestinationPhase[]>> = {
  handshake: ['receiving', 'failed'],
  receiving: ['switchover', 'postcopy-switchover', 'failed'],
  switchover: ['verifying', 'failed'],
  'postcopy-switchover': ['verifying', 'failed'],
  verifying: ['ready', 'failed'],
  ready: ['resuming', 'failed'],
  resuming: ['resumed', 'postcopy', 'failed'],
  postcopy: ['resumed', 'failed'],
  resumed: [],
  failed: [],
};
