/**
 * @ferry/engine: the public API. Everything a control plane needs is exported here; nothing
 * else is public.
 */
export {
  ErrorCode,
  FerryError,
  HandshakeError,
  IntegrityError,
  isErrorCode,
  MigrationError,
  PeerError,
  ProtocolError,
  UsageError,
} from './errors.ts';

export { type Kernels, type LoadKernelsOptions, loadKernels, nativeStatus } from './accel/index.ts';
export type { Clock } from './util/clock.ts';

export { GuestMemory, type MappedRegionSpec, type MemoryRegion, type RegionSpec } from './memory/guest-memory.ts';
export type { NativeMapping } from './accel/native-memory.ts';
export { DEFAULT_PAGE_SIZE, layoutMismatch, type MemoryLayout } from './memory/layout.ts';
export { digestOfPageHashes, hashMemoryAsync, memoryDigest, memoryDigestAsync } from './memory/digest.ts';

export { type CodecStats, type CompressionMode, DEFAULT_XBZRLE_CACHE_BYTES } from './codec/batch-encoder.ts';
export { type CodecMeasurements, lz4Pays } from './codec/chooser.ts';
export {
  type DowntimeInputs,
  type DowntimePrediction,
  predictDowntime,
  predictDowntimeMs,
  SWITCHOVER_ROUND_TRIPS,
  type SwitchoverCosts,
  type SwitchoverMeasurements,
  switchoverCostMs,
  switchoverCosts,
  HOOKS_ALLOWANCE_MS,
} from './estimate/downtime.ts';
export { type LinkRateOptions, LinkRateEstimator } from './estimate/link-rate.ts';
export {
  type BatchDelivery,
  LinkMonitor,
  type LinkMonitorOptions,
  type LinkView,
  MIN_ROUND_BYTES,
  type RoundDelivery,
} from './estimate/link-monitor.ts';
export { SwitchoverHistory, type SwitchoverHistoryData, type SwitchoverHistoryOptions } from './estimate/switchover-history.ts';
export {
  type DirtyProfile,
  distinctPagesWritten,
  fitWriteModel,
  predictRound,
  type RoundPrediction,
  type WriteModel,
} from './estimate/write-model.ts';
export {
  type ConvergeOptions,
  cannotConverge,
  defaultPolicy,
  hybridPolicy,
  type PolicyDecision,
  policies,
  type RoundFigures,
  STALL_ROUNDS,
  stalled,
  type SwitchoverPolicy,
} from './estimate/policy.ts';

export { DirtyBitmap } from './dirty/bitmap.ts';
export type { DirtyTracker } from './dirty/tracker.ts';
export { WriteBarrier, WriteBarrierTracker } from './dirty/write-barrier.ts';
export { HashScanTracker } from './dirty/hash-scan.ts';
export { ExternalTracker } from './dirty/external.ts';
export { KernelWriteTracker, type KernelTrackingSupport } from './dirty/kernel-write.ts';
export { CrossCheckedTracker } from './dirty/cross-check.ts';
export { PerRegionTracker } from './dirty/per-region.ts';
export { type DirtyRateSample, measureDirtyRate } from './dirty/dirty-rate.ts';

export { Feature, Intent, MAGIC, MessageType, PageEncoding, PROTOCOL_VERSION } from './protocol/constants.ts';
export { Cursor } from './protocol/cursor.ts';
export { FrameReader } from './protocol/frame-reader.ts';
export { decodeBody, encodeFrame, type Frame } from './protocol/frame.ts';
export * as limits from './protocol/limits.ts';
export * as messages from './protocol/messages.ts';
export { PageBatch } from './protocol/pages.ts';

export type { FrameTransport } from './transport/transport.ts';
export { TcpTransport } from './transport/tcp.ts';
export { Pacer } from './transport/pacer.ts';
export type { TlsOptions } from './transport/tls-options.ts';

export type { DestinationEvent, MigrationEvent } from './session/events.ts';
export type {
  AuditOutcome,
  DowntimeBreakdown,
  FailedMigrationReport,
  MigrationReport,
  NegotiatedTerms,
  RoundStats,
  SwitchoverOutcome,
  VerificationOutcome,
} from './session/report.ts';
export {
  type ConvergenceInputs,
  type ConvergenceProjection,
  fitTwoRounds,
  projectConvergence,
  type RoundSample,
} from './estimate/convergence.ts';
export type { MigrationStatus } from './session/migration-status.ts';
export type { OptionalEncoding, OptionalFeature } from './session/negotiation.ts';
export type { DestinationPhase, SourcePhase } from './session/state-machine.ts';

export type { DestinationControlPlane, IncomingGuest, MaybePromise, SourceControlPlane } from './session/control-plane.ts';
export { type IncomingMigration, type ListenOptions, MigrationDestination } from './orchestrate/destination.ts';
export { type MigrateOptions, type MigrationHandle, migrate, startMigration } from './orchestrate/source.ts';
export { probe, type ProbeOptions, type ProbeResult } from './session/probe.ts';
export { type MigrationPlan, type PlanOptions, plan, type RecommendedOptions, recommendedOptions } from './orchestrate/plan.ts';
export { type PlanInputs, type PlannedStrategy, predictStrategies, recommend, type StrategyPrediction } from './estimate/plan-model.ts';
export { PostcopyPager } from './postcopy/pager.ts';
export type { PostcopyAccess } from './session/control-plane.ts';
export type { FaultStats } from './session/report.ts';
export type { PostcopyStats } from './session/report.ts';
