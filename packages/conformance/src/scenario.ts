import { MessageType as M } from '@ferry/engine';
import type { Conn, Event, Received } from './wire/conn.ts';
import { typeName } from './wire/frames.ts';
import { parseReport } from './wire/messages.ts';

/** The guest layout the implementation's destination expects (role source). */
export interface Layout {
  readonly pageSize: number;
  readonly regions: readonly { readonly name: string; readonly sizeBytes: number }[];
}

/** How a scenario ended. */
export type Status = 'pass' | 'fail' | 'skip';
export interface Outcome {
  readonly status: Status;
  /** For a failure: expected vs observed; for a skip: why; for a pass: what was seen, briefly. */
  readonly reason: string;
}

export class Failure extends Error {}
export class Skipped extends Error {}

/** Ends a scenario as failed with `reason` (expected vs observed). */
export function fail(reason: string): never {
  throw new Failure(reason);
}
export function skip(reason: string): never {
  throw new Skipped(reason);
}
export function check(condition: unknown, reason: string): asserts condition {
  if (!condition) fail(reason);
}

/** What a scenario of role source gets: where the destination is and what it expects. */
export interface SourceContext {
  readonly host: string;
  readonly port: number;
  readonly layout: Layout;
  readonly psk: Buffer | undefined;
  /** The highest version the destination chose for a HELLO of 1..4 (found once per run). */
  readonly peerMaxVersion: number;
  /** Replies the scenario waits for, each (ms). */
  readonly replyTimeoutMs: number;
  readonly signal: AbortSignal;
}

/** What a scenario of role destination gets: a listener the implementation's source connects to. */
export interface DestinationContext {
  /** The next migration's connection from the source under test, with its HELLO (fails the scenario after a timeout). */
  accept(): Promise<{ conn: Conn; hello: Received }>;
  /** The source process's outcome, when the kit launched it; undefined when the source runs elsewhere. */
  readonly sourceExit: () => Promise<SourceExit | undefined>;
  readonly psk: Buffer | undefined;
  readonly replyTimeoutMs: number;
  readonly signal: AbortSignal;
}

/** What the kit can see of a source it launched: its exit code and its output. */
export interface SourceExit {
  readonly code: number | null;
  readonly output: string;
}

interface ScenarioBase {
  readonly id: string;
  readonly title: string;
  readonly clauses: readonly string[];
  /** Needs a peer that speaks version 4 (skipped otherwise). */
  readonly requiresV4?: boolean;
  /** 'key': runs only with --psk-*; 'no-key': only without. */
  readonly psk?: 'key' | 'no-key';
}
export interface SourceScenario extends ScenarioBase {
  readonly role: 'source';
  /** Connections it opens need no closing: the runner destroys every one left when it is over (Conn.destroyAll). */
  run(ctx: SourceContext): Promise<string | undefined>;
}
export interface DestinationScenario extends ScenarioBase {
  readonly role: 'destination';
  /** What the source under test MUST do, for the listing and the docs. */
  readonly expect: string;
  run(ctx: DestinationContext): Promise<string | undefined>;
}
export type Scenario = SourceScenario | DestinationScenario;

/** Describes an event for a failure message. */
export function describe(e: Event): string {
  if (e.kind === 'timeout') return `nothing within ${e.ms} ms`;
  if (e.kind === 'closed') return `the connection closed${e.error ? ` (${e.error})` : ''}`;
  if (e.type === M.HELLO_REJECT || e.type === M.FAILED || e.type === M.ABORT) {
    try {
      const r = parseReport(e.body);
      return `${typeName(e.type)} ${r.code} ("${r.message}")`;
    } catch {
      return `${typeName(e.type)} (undecodable report)`;
    }
  }
  return typeName(e.type);
}

/** The next frame must be `type` (skipping `skip`); returns its body. */
export async function expectFrame(conn: Conn, type: number, ms: number, skipTypes: readonly number[] = []): Promise<Buffer> {
  const e = await conn.nextSkipping(ms, skipTypes);
  if (e.kind !== 'frame' || e.type !== type) fail(`expected ${typeName(type)}, got ${describe(e)}`);
  checkCrc(conn, e);
  return e.body;
}

/** In a checked session every frame must carry a correct trailer (FR-4). */
export function checkCrc(conn: Conn, e: Event): void {
  if (e.kind !== 'frame' || !conn.checked) return;
  if (e.crc === 'missing') fail(`expected a CHECKED ${typeName(e.type)} frame (version 3+), got one without the CHECKED flag`);
  if (e.crc === 'mismatch') fail(`${typeName(e.type)} frame's CRC-32 trailer does not match`);
}

/**
 * The next frame must be an error report (`type`: HELLO_REJECT or FAILED) with one of `codes`,
 * after which the peer closes. ROUND_ACK and ECHO_REPLY in between are skipped.
 */
export async function expectReport(conn: Conn, type: number, codes: readonly string[], ms: number): Promise<string> {
  const e = await conn.nextSkipping(ms, [M.ROUND_ACK, M.ECHO_REPLY]);
  const want = `${typeName(type)} ${codes.join(' or ')}`;
  if (e.kind !== 'frame' || e.type !== type) fail(`expected ${want}, got ${describe(e)}`);
  const r = parseReport(e.body);
  if (!codes.includes(r.code)) fail(`expected ${want}, got ${typeName(type)} ${r.code} ("${r.message}")`);
  await expectClose(conn, ms, `after ${typeName(type)} ${r.code}`);
  return `${typeName(type)} ${r.code}`;
}

/** The peer must close the connection within `ms` (frames before the close are allowed). */
export async function expectClose(conn: Conn, ms: number, when: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const e = await conn.next(Math.max(1, until - Date.now()));
    if (e.kind === 'closed') return;
    if (e.kind === 'timeout') fail(`expected the peer to close the connection ${when}, it stayed open for ${ms} ms`);
  }
}
