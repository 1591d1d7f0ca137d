/** What a trial saw on each side: the classifier's only input. */
import type { InjectedFault } from './fault.ts';

/** How one side's migration ended: its promise settled, its process was killed, or it never began. */
export type SideEnd =
  | { readonly end: 'completed' }
  | { readonly end: 'failed'; readonly code: string; readonly message: string }
  /** Rejected with something that is not a FerryError (a bug whatever the fault). */
  | { readonly end: 'threw'; readonly message: string }
  /** kill -9 by the campaign. */
  | { readonly end: 'killed' }
  /** The process died on its own, or the trial hit an uncaught exception. */
  | { readonly end: 'crashed'; readonly message: string }
  /** Still running past the hang limit. */
  | { readonly end: 'hung' }
  /** The destination never accepted a migration (refused at the door, or nobody came). */
  | { readonly end: 'none' };

export interface SourceSide {
  readonly outcome: SideEnd;
  /** `pause()` was called and no `resume()` after it: the guest is stopped here. */
  readonly paused: boolean;
  /** `resume()` was called (after a failure). */
  readonly resumed: boolean;
  /** `release()` was called: the source gave the guest up. */
  readonly released: boolean;
  /** Hooks in order, for the record. */
  readonly calls: readonly string[];
  /** Pages of the source guest's memory whose self-checking pattern is broken; undefined when not checkable (killed while it wrote). */
  readonly tornPages: number | undefined;
}

export interface DestinationSide {
  readonly outcome: SideEnd;
  /** Its `resume()` hook was called: the guest runs there. */
  readonly resumed: boolean;
  readonly calls: readonly string[];
}

/** Destination memory and device state against the source's frozen ones; present only when the destination completed. */
export interface Comparison {
  readonly memoryIdentical: boolean;
  /** The first page that differs, when one does. */
  readonly firstDifference?: { readonly region: number; readonly page: number };
  readonly deviceStateIdentical: boolean;
  /** Page size, region names and sizes, and guest id as the destination got them. */
  readonly identityIdentical: boolean;
}

export interface Observation {
  readonly source: SourceSide;
  readonly destination: DestinationSide;
  /** Present when the destination completed and both memories could be read. */
  readonly comparison?: Comparison;
  /** Uncaught exceptions and unhandled rejections seen while the trial ran. */
  readonly crashes: readonly string[];
  /** Resources (sockets, timers, handles) or fds still open after the trial was torn down. */
  readonly leaks: readonly string[];
  /**
   * A lying destination: a copy there is not a copy the control plane can count on, so only
   * the source's own invariants are judged.
   */
  readonly destinationIsLiar?: boolean;
  /** A hostile scenario's own expectations that did not hold (a stranger's connection left open past its limit, say). */
  readonly violations?: readonly string[];
  readonly injected?: InjectedFault;
  readonly durationMs: number;
}
