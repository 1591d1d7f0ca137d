/**
 * The guest's "vCPU registers": the little state it keeps outside guest memory. A real vCPU
 * has its program counter and general registers; this guest has its heap pointer, counters
 * and random-number state. They live in worker locals while it runs and are stored to a
 * shared register file whenever it parks (a VM exit), which is where `saveDeviceState()`
 * reads them. Without them, memory alone does not resume the guest: the heap pointer says
 * where the next record goes.
 */
export interface Registers {
  /** Hosts this guest has run on: 1 on the host that booted it, +1 per migration. */
  generation: number;
  /** Next free byte of the heap, relative to its start. */
  heapTop: number;
  keys: number;
  sets: number;
  gets: number;
  churnOps: number;
  /** Next record of the churn's append log, as an index that wraps around the ring. */
  logHead: number;
  /** xorshift32 state of the churn; never 0. */
  rng: number;
}

export const REGISTER_NAMES = [
  'generation',
  'heapTop',
  'keys',
  'sets',
  'gets',
  'churnOps',
  'logHead',
  'rng',
] as const satisfies readonly (keyof Registers)[];

/** A shared register file: one float64 per register (every value is a safe integer). */
export function createRegisterFile(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(REGISTER_NAMES.length * 8));
}

export function storeRegisters(file: Float64Array, regs: Registers): void {
  REGISTER_NAMES.forEach((name, i) => {
    file[i] = regs[name];
  });
}

export function loadRegisters(file: Float64Array): Registers {
  const at = (i: number): number => file[i] ?? 0;
  return { generation: at(0), heapTop: at(1), keys: at(2), sets: at(3), gets: at(4), churnOps: at(5), logHead: at(6), rng: at(7) };
}
