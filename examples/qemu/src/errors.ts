/** Why the example's control plane refused or failed, as a stable code (listed in README.md). */
export type QemuErrorCode =
  | 'QEMU_START_FAILED'
  | 'QEMU_EXITED'
  | 'QMP_CLOSED'
  | 'QMP_PROTOCOL'
  | 'QMP_ERROR'
  | 'QMP_TIMEOUT'
  | 'VM_INCOMPATIBLE'
  | 'DEVICE_STATE_FAILED'
  | 'NOT_CONVERGED'
  | 'NETNS_FAILED';

/** The example's one error class: a code to branch on, a short message, the cause kept. */
export class QemuError extends Error {
  readonly code: QemuErrorCode;
  constructor(code: QemuErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QemuError';
    this.code = code;
  }
}
