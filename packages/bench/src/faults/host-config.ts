/** What the campaign tells a trial host process (a JSON file named by FERRY_FAULTS_HOST), and the files it leaves behind. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationSetup } from './trial-plan.ts';

export interface HostConfig {
  /** A fresh directory (under /dev/shm where there is one) for the guest's memory files and the hook log. */
  readonly dir: string;
  readonly seed: number;
  readonly setup: MigrationSetup;
  readonly deviceStateHex: string;
  readonly pskHex?: string;
}

export const HOST_CONFIG_ENV = 'FERRY_FAULTS_HOST';

/** Where a host keeps what must outlive it: memory regions, the hook log (one line per hook, written before it returns), the device state loaded. */
export const hostFiles = {
  sourceRegion: (dir: string, i: number): string => join(dir, `src-r${i}`),
  destinationRegion: (dir: string, i: number): string => join(dir, `dst-r${i}`),
  sourceLog: (dir: string): string => join(dir, 'src-log'),
  destinationLog: (dir: string): string => join(dir, 'dst-log'),
  destinationDeviceState: (dir: string): string => join(dir, 'dst-device'),
  destinationIdentity: (dir: string): string => join(dir, 'dst-identity.json'),
  config: (dir: string): string => join(dir, 'config.json'),
};

export function readHostConfig(): HostConfig {
  const path = process.env[HOST_CONFIG_ENV];
  if (!path) throw new Error(`${HOST_CONFIG_ENV} is not set: this script is started by the fault campaign`);
  return JSON.parse(readFileSync(path, 'utf8')) as HostConfig;
}
