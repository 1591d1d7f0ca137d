import { onTestFinished } from 'vitest';
import {
  type DestinationControlPlane,
  type DestinationEvent,
  type IncomingMigration,
  type ListenOptions,
  MigrationDestination,
} from '../../src/index.ts';
import { type RecordingDestinationPlane, recordingDestinationPlane } from './destination-plane.ts';

/** `ListenOptions` with every control-plane hook optional (the sink's defaults fill in). */
export type SinkOptions = Omit<Partial<ListenOptions>, 'controlPlane'> & { readonly controlPlane?: Partial<DestinationControlPlane> };

/** A started destination host, with everything its control plane and its events saw. */
export interface DestinationHost {
  readonly destination: MigrationDestination;
  readonly host: string;
  readonly port: number;
  readonly result: Promise<IncomingMigration>;
  readonly plane: RecordingDestinationPlane;
  /** Every event the destination emitted, in order. */
  readonly events: DestinationEvent[];
  /** The codes of the `rejected` events, in order. */
  rejected(): string[];
  close(): Promise<void>;
}

/**
 * A real `MigrationDestination` on 127.0.0.1 whose control plane accepts everything and does
 * nothing unless `options.controlPlane` says otherwise, and records every call either way.
 * Call inside a test: it stops listening when the test finishes.
 */
export async function listenSink(options: SinkOptions = {}): Promise<DestinationHost> {
  const plane = recordingDestinationPlane(options.controlPlane);
  const events: DestinationEvent[] = [];
  const onEvent = options.onEvent;
  const destination = await MigrationDestination.listen({
    ...options,
    controlPlane: plane,
    onEvent: (e) => {
      events.push(e);
      onEvent?.(e);
    },
  });
  const close = (): Promise<void> => destination.close();
  onTestFinished(close);
  return {
    destination,
    host: '127.0.0.1',
    port: destination.port,
    get result() {
      return destination.result;
    },
    plane,
    events,
    rejected: () => events.flatMap((e) => (e.type === 'rejected' ? [e.code] : [])),
    close,
  };
}
