import { UsageError } from '../usage-error.ts';
import type { GuestAdapter } from './adapter.ts';
import { kvAdapter } from './kv.ts';
import { qemuAdapter } from './qemu.ts';
import { rawImageAdapter } from './raw-image.ts';

export type { AdapterOptions, DestinationGuest, GuestAdapter, SourceGuest } from './adapter.ts';

/** Every guest adapter by its `--guest` name. A new VMM's adapter goes here. */
export const ADAPTERS: Readonly<Record<string, GuestAdapter>> = { raw: rawImageAdapter, kv: kvAdapter, qemu: qemuAdapter };

export function adapter(name: string): GuestAdapter {
  const a = ADAPTERS[name];
  if (!a) throw new UsageError(`--guest must be one of ${Object.keys(ADAPTERS).join(', ')}; got '${name}'`);
  return a;
}
