/** The key-value guest for other hosts than the demo's own (the `ferry` command's `kv` adapter). */
export { checkRegisters, decodeDeviceState, encodeDeviceState } from './device-state.ts';
export { KvGuest, type KvGuestOptions, type LoadedGuest } from './kv-guest.ts';
export { MIN_MEMORY_MIB, MiB, PAGE_SIZE, readSuperblock } from './layout.ts';
export type { Registers } from './registers.ts';
