import { readFileSync } from 'node:fs';
import { GuestMemory, HashScanTracker, loadKernels, migrate } from '@ferry/engine';
import type { Layout } from '../scenario.ts';

export interface SendOptions {
  readonly host: string;
  readonly port: number;
  readonly image: string;
  /** Regions to cut the image into, back to back (default: one region ram0 of the whole file). */
  readonly layout?: Layout;
  readonly psk?: Buffer;
  readonly compression?: 'off' | 'lz4' | 'xbzrle' | 'adaptive';
  readonly log: (line: string) => void;
}

/** The reference source: Ferry's engine migrating the memory of an image file (regions back to back). */
export async function send(o: SendOptions): Promise<number> {
  const bytes = readFileSync(o.image);
  const layout: Layout = o.layout ?? { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: bytes.byteLength }] };
  const total = layout.regions.reduce((n, r) => n + r.sizeBytes, 0);
  if (total !== bytes.byteLength) throw new Error(`--image ${o.image} has ${bytes.byteLength} bytes, the layout ${total}`);
  const memory = GuestMemory.fromLayout(layout);
  let at = 0;
  for (const r of memory.regions) {
    r.bytes.set(bytes.subarray(at, at + r.bytes.byteLength));
    at += r.bytes.byteLength;
  }
  const kernels = await loadKernels();
  try {
    const report = await migrate({
      host: o.host,
      port: o.port,
      memory,
      tracker: new HashScanTracker(memory, kernels),
      kernels,
      ...(o.psk && { psk: o.psk }),
      ...(o.compression && { compression: o.compression }),
      controlPlane: { pause() {}, resume() {}, saveDeviceState: () => new Uint8Array(0) },
    });
    o.log(`completed: ${report.rounds.length} rounds, downtime ${report.downtimeMs.toFixed(1)} ms`);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    o.log(`failed: ${e.code ?? 'ERROR'}: ${e.message}`);
    return e.code === 'FERRY_OUTCOME_UNKNOWN' ? 5 : 1;
  }
}
