/** What the fault proxy does to one frame of a migration: the vocabulary of the campaign. */
import { MessageType } from '@ferry/engine';

/** Which way a frame goes through the proxy. */
export type Direction = 'to-destination' | 'to-source';

/**
 * The bytes of a frame a bit flip lands in: the frame header; a PAGES batch's page contents;
 * its batch header and entry table (page numbers, encodings, lengths, checksums); a
 * DEVICE_STATE chunk's bytes; or any byte of the body (control messages).
 */
export type FrameRegion = 'header' | 'page-data' | 'page-entries' | 'device-state' | 'body';

/** Which frame the fault hits: the `nth` (from 1) frame going `direction` of one of `types` (any type when empty) with bytes in `region`, on `connection` (the proxy numbers connections from 0 in the order it accepts them) or any. */
export interface FrameTrigger {
  readonly direction: Direction;
  readonly types: readonly number[];
  readonly nth: number;
  readonly connection: number | 'any';
  readonly region?: FrameRegion;
  /** Count only frames after one of this type has crossed (either way): PAGES after SWITCHOVER are the final round's. */
  readonly after?: number;
}

export type FaultAction =
  /** One bit of `region` flipped; `where` (a fraction in [0, 1)) picks the byte and bit. */
  | { readonly kind: 'flip'; readonly region: FrameRegion; readonly where: number }
  /** The connection reset (RST both ways): the frame is lost (`before`) or delivered first (`after`). */
  | { readonly kind: 'reset'; readonly when: 'before' | 'after' }
  /** The frame and everything behind it in that direction held back for `ms` (reading stops: TCP back-pressure). */
  | { readonly kind: 'stall'; readonly ms: number }
  /** The frame re-framed with its body cut to `keep` (a fraction) of its bytes. */
  | { readonly kind: 'truncate-frame'; readonly keep: number }
  /** The first `keep` (a fraction) of the frame's bytes delivered, then the connection closed. */
  | { readonly kind: 'truncate-stream'; readonly keep: number }
  /** The frame silently left out; the connection goes on. */
  | { readonly kind: 'drop' }
  /** The frame delivered twice. */
  | { readonly kind: 'duplicate' }
  /** kill -9 of a host process as the frame crosses: before it is delivered, or just after. */
  | { readonly kind: 'kill'; readonly who: 'source' | 'destination'; readonly when: 'before' | 'after' };

export interface Fault {
  readonly trigger: FrameTrigger;
  readonly action: FaultAction;
}

/** What the proxy actually did, for the trial's record. */
export interface InjectedFault {
  readonly frame: string;
  readonly direction: Direction;
  readonly connection: number;
  /** Frame bytes, header included. */
  readonly frameBytes: number;
  /** Flip: the byte (from the frame's start) and bit flipped. Truncation: bytes kept. */
  readonly offset?: number;
  readonly bit?: number;
  /** Milliseconds from the first connection to the fault. */
  readonly atMs: number;
}

export function typeName(type: number): string {
  for (const [name, value] of Object.entries(MessageType)) if (value === type) return name;
  return `0x${type.toString(16).padStart(2, '0')}`;
}

/** A short description of a fault, as the results table shows it. */
export function describeFault(f: Fault): string {
  const t = f.trigger;
  const types = t.types.length === 0 ? 'any' : t.types.map(typeName).join('|');
  const after = t.after === undefined ? '' : ` after ${typeName(t.after)}`;
  const where = `${types}#${t.nth}${t.direction === 'to-destination' ? '>D' : '>S'}${t.connection === 'any' ? '' : `@c${t.connection}`}${after}`;
  const a = f.action;
  switch (a.kind) {
    case 'flip':
      return `flip ${a.region} ${where}`;
    case 'reset':
      return `reset-${a.when} ${where}`;
    case 'stall':
      return `stall ${a.ms}ms ${where}`;
    case 'truncate-frame':
    case 'truncate-stream':
      return `${a.kind} ${Math.round(a.keep * 100)}% ${where}`;
    case 'kill':
      return `kill -9 ${a.who} ${a.when} ${where}`;
    default:
      return `${a.kind} ${where}`;
  }
}
