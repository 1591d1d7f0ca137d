/**
 * Every entry point checks its options first, before it connects, listens or claims the guest:
 * unknown keys, types, ranges and enum values fail with `FERRY_INVALID_ARGUMENT` naming the
 * function and the option ("migrate(): option 'compression' must be one of off, lz4, xbzrle,
 * adaptive; got 'zstd'"); then a host beyond loopback without `psk` or `tls` fails with
 * `FERRY_INSECURE` unless `insecure: true`. Each table lists every key of its options type (the
 * type checker holds them together), so an option added there and not here fails to compile.
 */
import * as v from 'valibot';
import type { CompressionMode } from '../codec/batch-encoder.ts';
import { ErrorCode, UsageError } from '../errors.ts';
import { SwitchoverHistory } from '../estimate/switchover-history.ts';
import {
  MAX_DATA_CHANNELS,
  MAX_DEVICE_STATE_BYTES,
  MAX_FRAME_BODY_BYTES,
  MAX_PROBE_BYTES,
  PAGE_ENTRY_BYTES,
  PAGES_HEADER_BYTES,
} from '../protocol/limits.ts';
import { isLoopbackHost } from '../transport/address.ts';
import { Pacer } from '../transport/pacer.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import { closestName } from '../util/closest-name.ts';
import type { ListenOptions } from './listen-options.ts';
import type { MigrateOptions } from './migrate-options.ts';
import { OPTIONAL_ENCODINGS, OPTIONAL_FEATURES } from './negotiation.ts';
import * as s from './option-schemas.ts';
import type { PlanOptions } from './plan-options.ts';
import type { ProbeOptions } from './probe-options.ts';

/** A schema for every key of `T`, optional or not. */
type Table<T> = { readonly [K in keyof T]-?: s.OptionSchema };

const COMPRESSION: Record<CompressionMode, true> = { off: true, lz4: true, xbzrle: true, adaptive: true };
const STRATEGY: Record<NonNullable<MigrateOptions['strategy']>, true> = { precopy: true, postcopy: true, hybrid: true };
const ON_WONT_CONVERGE: Record<NonNullable<MigrateOptions['onWontConverge']>, true> = { abort: true, switchover: true };
const VERIFY: Record<NonNullable<MigrateOptions['verify']>, true> = { auto: true, tracker: true, memory: true, sent: true };
const POSTCOPY_FAULTS: Record<NonNullable<ListenOptions['postcopyFaults']>, true> = { cooperative: true, userfaultfd: true };

const maybe = v.optional;
const BANDWIDTH_OR_PACER = ' of bytes per second (0: no cap), or a Pacer';

const migrateTable: Table<MigrateOptions> = {
  host: s.hostName,
  port: s.integerIn(1, 65535),
  memory: s.guestMemory,
  tracker: s.dirtyTracker,
  controlPlane: s.hooks('a SourceControlPlane', ['pause', 'resume', 'saveDeviceState'], ['release', 'throttle']),
  guestId: maybe(s.guestId),
  strategy: maybe(s.oneOf(STRATEGY)),
  prepaging: maybe(s.flag),
  maxDowntimeMs: maybe(s.finiteNumber('non-negative', ' of milliseconds')),
  maxRounds: maybe(s.positiveInteger()),
  onWontConverge: maybe(s.oneOf(ON_WONT_CONVERGE)),
  convergeTimeoutMs: maybe(s.finiteNumber('non-negative', ' of milliseconds')),
  policy: maybe(s.callback),
  maxBandwidth: maybe(
    v.union(
      [s.finiteNumber('non-negative', BANDWIDTH_OR_PACER), v.instance(Pacer)],
      `must be a non-negative finite number${BANDWIDTH_OR_PACER}`,
    ),
  ),
  deviceStateBytes: maybe(s.byteCount(MAX_DEVICE_STATE_BYTES)),
  switchoverHistory: maybe(v.instance(SwitchoverHistory, 'must be a SwitchoverHistory')),
  switchoverBandwidth: maybe(s.finiteNumber('non-negative', ' of bytes per second (0: no cap)')),
  compression: maybe(s.oneOf(COMPRESSION)),
  xbzrleCacheBytes: maybe(s.byteCount()),
  channels: maybe(s.integerIn(1, MAX_DATA_CHANNELS)),
  batchPages: maybe(s.positiveInteger()),
  verify: maybe(s.oneOf(VERIFY)),
  verifyTracker: maybe(s.dirtyTracker),
  audit: maybe(s.flag),
  kernels: maybe(s.kernels),
  psk: maybe(s.psk),
  tls: maybe(s.tls),
  insecure: maybe(s.flag),
  signal: maybe(s.abortSignal),
  onEvent: maybe(s.callback),
  connectTimeoutMs: maybe(s.durationMs('positive')),
  handshakeTimeoutMs: maybe(s.durationMs('positive')),
  idleTimeoutMs: maybe(s.durationMs('positive')),
  frameDeadlineMs: maybe(s.durationMs('positive')),
  precopyRecoveryMs: maybe(s.durationMs('non-negative')),
  recoveryTimeoutMs: maybe(s.durationMs('non-negative')),
  handoverTimeoutMs: maybe(s.durationMs('positive')),
  clock: maybe(s.clock),
};

const listenTable: Table<ListenOptions> = {
  controlPlane: s.hooks('a DestinationControlPlane', ['loadDeviceState', 'resume'], ['admit', 'allocate', 'prepare', 'discard']),
  host: maybe(s.hostName),
  port: maybe(s.integerIn(0, 65535)),
  pageSizes: maybe(s.pageSizes),
  psk: maybe(s.psk),
  tls: maybe(s.tls),
  insecure: maybe(s.flag),
  postcopyFaults: maybe(s.oneOf(POSTCOPY_FAULTS)),
  recoveryTimeoutMs: maybe(s.durationMs('non-negative')),
  acceptFeatures: maybe(s.someOf(OPTIONAL_FEATURES)),
  acceptEncodings: maybe(s.someOf(OPTIONAL_ENCODINGS)),
  maxFrameBodyBytes: maybe(s.byteCount(MAX_FRAME_BODY_BYTES)),
  maxGuestBytes: maybe(s.positiveInteger()),
  maxDeviceStateBytes: maybe(s.byteCount(MAX_DEVICE_STATE_BYTES)),
  handshakeTimeoutMs: maybe(s.durationMs('positive')),
  idleTimeoutMs: maybe(s.durationMs('positive')),
  frameDeadlineMs: maybe(s.durationMs('positive')),
  kernels: maybe(s.kernels),
  onEvent: maybe(s.callback),
  clock: maybe(s.clock),
};

const probeTable: Table<ProbeOptions> = {
  host: s.hostName,
  port: s.integerIn(1, 65535),
  layout: s.memoryLayout,
  guestId: maybe(s.guestId),
  timeoutMs: maybe(s.durationMs('positive')),
  psk: maybe(s.psk),
  tls: maybe(s.tls),
  insecure: maybe(s.flag),
  measureBytes: maybe(s.byteCount(MAX_PROBE_BYTES)),
  features: maybe(s.someOf(OPTIONAL_FEATURES)),
};

const planTable: Table<PlanOptions> = {
  host: s.hostName,
  port: s.integerIn(1, 65535),
  psk: maybe(s.psk),
  tls: maybe(s.tls),
  insecure: maybe(s.flag),
  memory: s.guestMemory,
  tracker: s.dirtyTracker,
  sampleMs: maybe(s.durationMs('positive')),
  probeBytes: maybe(s.byteCount(MAX_PROBE_BYTES)),
  bandwidthBytesPerSec: maybe(s.finiteNumber('positive', ' of bytes per second')),
  maxBandwidth: maybe(s.finiteNumber('non-negative', ' of bytes per second (0: no cap)')),
  maxDowntimeMs: maybe(s.finiteNumber('non-negative', ' of milliseconds')),
  maxRounds: maybe(s.positiveInteger()),
  deviceStateBytes: maybe(s.byteCount(MAX_DEVICE_STATE_BYTES)),
  verify: maybe(s.oneOf(VERIFY)),
  kernels: maybe(s.kernels),
};

/** An entry point's name, the schema of its options, and hints for keys it does not take. */
interface EntryPoint {
  readonly name: string;
  readonly keys: readonly string[];
  readonly schema: s.OptionSchema;
  readonly hints: Readonly<Record<string, string>>;
}

function entryPoint(name: string, table: Readonly<Record<string, s.OptionSchema>>, hints: Record<string, string> = {}): EntryPoint {
  return { name, keys: Object.keys(table), schema: v.object(table), hints };
}

const MIGRATE = entryPoint('migrate()', migrateTable, { layout: 'migrate() takes the memory itself' });
const LISTEN = entryPoint('MigrationDestination.listen()', listenTable);
const PROBE = entryPoint('probe()', probeTable, { memory: 'probe() takes layout: memory.layout' });
const PLAN = entryPoint('plan()', planTable);

/** Throws the first thing wrong with `migrate()`'s options, before it claims the guest or connects. */
export function checkMigrateOptions(options: MigrateOptions): void {
  check(MIGRATE, options);
  // A batch is one PAGES frame: its header, an entry per page and the pages, within a frame's body.
  const pageSize = options.memory.pageSize;
  const most = Math.floor((MAX_FRAME_BODY_BYTES - PAGES_HEADER_BYTES) / (pageSize + PAGE_ENTRY_BYTES));
  if (options.batchPages !== undefined && options.batchPages > most) {
    invalid(
      `migrate(): option 'batchPages' must be at most ${most} for pages of ${pageSize} bytes (a frame holds 16 MiB); got ${options.batchPages}`,
    );
  }
  if ((options.precopyRecoveryMs ?? 0) > 0 && (options.channels ?? 1) > 1) {
    invalid(`migrate(): option 'precopyRecoveryMs' works over one channel only, for now; got channels: ${options.channels}`);
  }
  secure(MIGRATE.name, options.host, options, 'anyone who answers there gets the guest, sent in the clear');
}

/** Throws the first thing wrong with `MigrationDestination.listen()`'s options, before it listens. */
export function checkListenOptions(options: ListenOptions): void {
  check(LISTEN, options);
  secure(LISTEN.name, options.host ?? '127.0.0.1', options, "the first peer to connect takes this destination's one migration");
}

/** Throws the first thing wrong with `probe()`'s options, before it connects. */
export function checkProbeOptions(options: ProbeOptions): void {
  check(PROBE, options);
  secure(PROBE.name, options.host, options, 'anyone who answers there can pose as the destination');
}

/** Throws the first thing wrong with `plan()`'s options, before it connects or samples the guest. */
export function checkPlanOptions(options: PlanOptions): void {
  check(PLAN, options);
  secure(PLAN.name, options.host, options, 'anyone who answers there can pose as the destination');
}

function check(entry: EntryPoint, options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    invalid(`${entry.name} takes an options object; got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (entry.keys.includes(key)) continue;
    const near = closestName(key, entry.keys);
    const hint = entry.hints[key] ?? (near !== undefined ? `did you mean ${near}?` : undefined);
    invalid(`${entry.name}: unknown option '${key}'${hint !== undefined ? ` (${hint})` : ''}`);
  }
  const result = v.safeParse(entry.schema, options, { abortEarly: true });
  if (!result.success) invalid(describe(entry.name, result.issues[0]));
}

function describe(fn: string, issue: v.BaseIssue<unknown>): string {
  const path = v.getDotPath(issue) ?? '';
  const last = issue.path?.at(-1);
  if (last?.origin === 'key') {
    // A key the schema requires is absent: at the top an option, deeper a member of one.
    const parent = path.slice(0, Math.max(0, path.length - String(last.key).length - 1));
    return parent === ''
      ? `${fn}: option '${path}' is required`
      : `${fn}: option '${parent}' ${issue.message}; '${String(last.key)}' is missing`;
  }
  // A check over the whole value says what is wrong with it; a type or range says what it got.
  const got = issue.type === 'raw_check' ? '' : `; got ${show(issue.input)}`;
  return `${fn}: option '${path}' ${issue.message}${got}`;
}

/** A host beyond loopback needs psk or tls, or the caller's word that the network is trusted. */
function secure(
  fn: string,
  host: string,
  o: { readonly psk?: Uint8Array; readonly tls?: TlsOptions; readonly insecure?: boolean },
  risk: string,
): void {
  if (o.psk !== undefined || o.tls !== undefined || o.insecure === true || isLoopbackHost(host)) return;
  throw new UsageError(
    ErrorCode.INSECURE,
    `${fn}: ${host} is not loopback, and without psk or tls ${risk}; give both sides psk or tls, or set insecure: true on a network you trust`,
  );
}

function invalid(message: string): never {
  throw new UsageError(ErrorCode.INVALID_ARGUMENT, message);
}

/** A value as a message shows it: strings quoted, objects by their kind. */
function show(x: unknown): string {
  if (typeof x === 'string') return `'${x.length > 40 ? `${x.slice(0, 40)}…` : x}'`;
  if (typeof x === 'function') return 'a function';
  if (typeof x !== 'object' || x === null) return String(x);
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (x instanceof Uint8Array) return `a ${x.constructor.name} of ${x.byteLength} bytes`;
  const kind = Object.getPrototypeOf(x)?.constructor?.name;
  if (typeof kind !== 'string' || kind === 'Object' || kind === '') return 'an object';
  return /^[AEIOU]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}
