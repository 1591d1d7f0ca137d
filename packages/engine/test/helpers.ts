import { type DestinationControlPlane, type ListenOptions, MigrationDestination } from '../src/index.ts';

/** A destination whose control plane accepts everything and does nothing: for tests about the wire, not the hooks. */
export function listenSink(options: Partial<ListenOptions> = {}): Promise<MigrationDestination> {
  const controlPlane: DestinationControlPlane = { loadDeviceState: () => {}, resume: () => {}, ...options.controlPlane };
  return MigrationDestination.listen({ ...options, controlPlane });
}
