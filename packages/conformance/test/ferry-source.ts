import { GuestMemory, HashScanTracker, loadKernels, migrate } from '@ferry/engine';
import type { LaunchedSource, SourceLauncher } from '../src/destination/run.ts';

/**
 * Ferry's source, in this process, for each scenario of role destination: a 2 MiB guest
 * (every other page written) with LZ4 on, so the kit's destination decodes more than RAW.
 * Its "exit": 0 when the migration completed, 1 with "CODE: message" when it failed.
 */
export function ferrySource(psk?: Buffer): SourceLauncher {
  return (port): LaunchedSource => {
    const ac = new AbortController();
    const exit = (async () => {
      const memory = GuestMemory.fromLayout({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 2 * 1024 * 1024 }] });
      const bytes = memory.regions[0]!.bytes;
      for (let i = 0; i < bytes.byteLength; i += 8192) bytes.fill((i >>> 13) & 0xff || 1, i, i + 4096);
      const kernels = await loadKernels();
      try {
        await migrate({
          host: '127.0.0.1',
          port,
          memory,
          tracker: new HashScanTracker(memory, kernels),
          kernels,
          compression: 'lz4',
          ...(psk && { psk }),
          signal: ac.signal,
          handshakeTimeoutMs: 5000,
          handoverTimeoutMs: 10_000,
          controlPlane: { pause() {}, resume() {}, saveDeviceState: () => new Uint8Array(16) },
        });
        return { code: 0, output: 'completed' };
      } catch (err) {
        const e = err as { code?: string; message: string };
        return { code: 1, output: `${e.code ?? 'ERROR'}: ${e.message}` };
      }
    })();
    return { exit, kill: () => ac.abort() };
  };
}
