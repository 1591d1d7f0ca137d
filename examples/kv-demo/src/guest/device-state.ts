import type { KvLayout } from './layout.ts';
import { REGISTER_NAMES, type Registers } from './registers.ts';

/**
 * The guest's device state on the wire: what `saveDeviceState()` hands the engine and
 * `loadDeviceState()` gets back on the destination. The engine treats it as an opaque blob.
 *
 *   u32 magic "KVDS" | u16 version | u16 register count | register count x f64
 */
const MAGIC = 0x5344_564b; // "KVDS" little-endian
const VERSION = 1;
const HEADER_BYTES = 8;

export const deviceState = {
  preencode(): number {
    return HEADER_BYTES + REGISTER_NAMES.length * 8;
  },
  encode(view: DataView, regs: Registers): void {
    view.setUint32(0, MAGIC, true);
    view.setUint16(4, VERSION, true);
    view.setUint16(6, REGISTER_NAMES.length, true);
    REGISTER_NAMES.forEach((name, i) => {
      view.setFloat64(HEADER_BYTES + i * 8, regs[name], true);
    });
  },
  /** Total: returns registers or throws saying what is wrong. */
  decode(view: DataView): Registers {
    if (view.byteLength < HEADER_BYTES) throw new Error(`device state of ${view.byteLength} bytes is too short`);
    if (view.getUint32(0, true) !== MAGIC) throw new Error("device state is not a key-value guest's");
    if (view.getUint16(4, true) !== VERSION) throw new Error(`device state version ${view.getUint16(4, true)} is not ${VERSION}`);
    const count = view.getUint16(6, true);
    if (count !== REGISTER_NAMES.length || view.byteLength !== HEADER_BYTES + count * 8) {
      throw new Error(`device state holds ${count} registers in ${view.byteLength} bytes, expected ${REGISTER_NAMES.length}`);
    }
    const regs = {} as Registers;
    REGISTER_NAMES.forEach((name, i) => {
      const value = view.getFloat64(HEADER_BYTES + i * 8, true);
      if (!Number.isSafeInteger(value) || value < 0) throw new Error(`register ${name} holds ${value}`);
      regs[name] = value;
    });
    return regs;
  },
};

export function encodeDeviceState(regs: Registers): Uint8Array {
  const bytes = new Uint8Array(deviceState.preencode());
  deviceState.encode(new DataView(bytes.buffer), regs);
  return bytes;
}

export function decodeDeviceState(bytes: Uint8Array): Registers {
  return deviceState.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Throws when `regs` cannot belong to a guest of `layout` (checked before the guest resumes). */
export function checkRegisters(regs: Registers, layout: KvLayout): void {
  if (regs.generation < 1) throw new Error('device state has generation 0');
  if (regs.heapTop > layout.heapBytes) throw new Error(`heap pointer ${regs.heapTop} is past the heap's ${layout.heapBytes} bytes`);
  if (regs.keys > layout.tableSlots) throw new Error(`${regs.keys} keys do not fit ${layout.tableSlots} slots`);
  if (regs.rng === 0 || regs.rng > 0xffff_ffff) throw new Error(`random state ${regs.rng} is not a non-zero u32`);
}
