/** The test harness: set-up shared by the suite, one concept per file. */
export { type CuttableProxy, cuttableProxy } from './cuttable-proxy.ts';
export { type DestinationHook, type RecordingDestinationPlane, type ResumeCall, recordingDestinationPlane } from './destination-plane.ts';
export { expectSameMemory } from './expect-memory.ts';
export { type GuestShape, guestMemory, MiB, type RegionShape } from './guest-memory.ts';
export { type DestinationHost, listenSink, type SinkOptions } from './listen-sink.ts';
export { type MigrationPair, type MigrationPairOptions, migrationPair } from './migration-pair.ts';
export { type FilledPages, type FillOptions, fillPages, type PageContent, type PageFill, type PageRun } from './page-fill.ts';
export { type RecordingSourcePlane, recordingSourcePlane, type SourceHook } from './source-plane.ts';
export { rawExchange } from './raw-exchange.ts';
export { setBits } from './set-bits.ts';
export { type SourceHost, type SourceOptions, sourceHost } from './source-host.ts';
