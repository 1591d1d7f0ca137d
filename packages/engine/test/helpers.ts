import net from 'node:net';
import { type DestinationControlPlane, type ListenOptions, MigrationDestination } from '../src/index.ts';

/** A destination whose control plane accepts everything and does nothing: for tests about the wire, not the hooks. */
export function listenSink(options: Partial<ListenOptions> = {}): Promise<MigrationDestination> {
  const controlPlane: DestinationControlPlane = { loadDeviceState: () => {}, resume: () => {}, ...options.controlPlane };
  return MigrationDestination.listen({ ...options, controlPlane });
}

/** A TCP proxy in front of the destination whose connections can be cut at any moment. */
export async function cuttableProxy(targetPort: number) {
  const pairs = new Set<net.Socket>();
  let accepting = true;
  const server = net.createServer((client) => {
    if (!accepting) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
      pairs.add(a);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut(): void {
      for (const s of pairs) s.destroy();
      pairs.clear();
    },
    refuse(yes: boolean): void {
      accepting = !yes;
    },
    close: (): Promise<void> => new Promise((resolve) => server.close(() => resolve())),
  };
}
