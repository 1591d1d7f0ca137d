import { execFileSync } from 'node:child_process';
import { guestImage } from './scenario.ts';

/**
 * Why this host cannot boot the example's VM (QEMU or the guest image missing), or undefined:
 * the reason the QEMU tests (here and in the `ferry` CLI) skip, printed so a skip is never silent.
 */
export function qemuUnavailable(): string | undefined {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'qemu-system-x86_64 is not installed (examples/qemu/scripts/install.sh installs it)';
  }
  const image = guestImage();
  return 'missing' in image ? image.missing : undefined;
}
