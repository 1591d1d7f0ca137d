import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';

/** Names the example gives its namespaces and /dev/shm files: `ferry-qemu-<pid of the control plane>-…`. */
const OURS = /^ferry-qemu-(\d+)-/;

/**
 * Removes the namespaces and RAM/QMP files of control planes that died without cleaning up (a
 * SIGKILL: their QEMUs died with them through `--pdeathsig`, their files did not). Only names
 * whose control-plane pid is gone are touched.
 */
export function removeLeftovers(): void {
  const dead = (name: string): boolean => {
    const pid = OURS.exec(name)?.[1];
    if (!pid) return false;
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  for (const file of readdirSync('/dev/shm')) if (dead(file)) rmSync(`/dev/shm/${file}`, { force: true });
  let namespaces = '';
  try {
    namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of namespaces.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!dead(name)) continue;
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {}
  }
}
