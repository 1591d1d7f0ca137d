import type { FerryError } from '../errors.ts';
import { requireNativeExports } from './native-loader.ts';

/**
 * Memory the addon mapped (`MemoryMapping` in packages/native/src/js_mapping.rs): a file shared
 * with another process, or anonymous memory, page-aligned so the kernel can track it per page.
 */
export interface NativeMapping {
  /** This process's name for the mapping: another thread passes it to `attach` to see the same memory. */
  readonly id: number;
  readonly byteLength: number;
  /** False for a copy-on-write mapping of a file opened read-only. */
  readonly writable: boolean;
  /** False once `unmap()` was called. */
  readonly mapped: boolean;
  /** The memory as an ArrayBuffer, the same one on every call; throws after `unmap()`. */
  buffer(): ArrayBuffer;
  /** Detaches the ArrayBuffer (every view of it reads as empty) and releases the memory. */
  unmap(): void;
  /**
   * Anonymous mappings only (throws otherwise): sets bit `i` of `words` for each page that is
   * resident; the others were never touched and read as zeros. Returns how many are resident.
   */
  residentPages(pageSize: number, words: Uint32Array): number;
}

/** Kernel write tracking of one mapping (userfaultfd asynchronous write protection). */
export interface NativeWriteTracker {
  /** ORs the pages written since the last call into `words`, re-protects them; returns how many bits were new. */
  collect(words: Uint32Array): number;
  close(): void;
}

/** Post-copy by real page faults on one mapping (userfaultfd missing mode). */
export interface NativeMissingPageHandler {
  /** Fills guest page `page` from `data` at `offset` and wakes its waiters; false if it was there already. */
  copy(page: number, data: Uint8Array, offset: number): boolean;
  close(): void;
}

export interface NativeMemoryBinding {
  MemoryMapping: {
    anonymous(byteLength: number): NativeMapping;
    attach(id: number): NativeMapping;
    openFile(path: string, options?: { writable?: boolean; create?: boolean; byteLength?: number }): NativeMapping;
  };
  WriteTracker: { create(mapping: NativeMapping, pageSize: number): NativeWriteTracker };
  writeTrackingSupport(): { available: boolean; reason?: string | null };
  MissingPageHandler: {
    create(mapping: NativeMapping, pageSize: number, missing: Uint32Array, onFault: (page: number) => void): NativeMissingPageHandler;
  };
  missingFaultSupport(): { available: boolean; reason?: string | null };
}

/** Every export `NativeMemoryBinding` names: a build without one of them is refused here, not at first use. */
const MEMORY_EXPORTS: readonly (keyof NativeMemoryBinding)[] = [
  'MemoryMapping',
  'WriteTracker',
  'writeTrackingSupport',
  'MissingPageHandler',
  'missingFaultSupport',
];

/** The addon's mapping and write-tracking classes, or why they are not there. Never throws. */
export function loadNativeMemory(): { binding: NativeMemoryBinding } | { error: FerryError } {
  return requireNativeExports<NativeMemoryBinding>(MEMORY_EXPORTS);
}
