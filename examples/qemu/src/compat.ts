import { statSync } from 'node:fs';
import { type MemoryLayout, type ProbeOptions, probe } from '@ferry/engine';
import type { QmpTarget } from './device-state.ts';
import type { QemuVm } from './qemu-vm.ts';

/** One reason the destination cannot take this VM. */
export interface Refusal {
  readonly check: string;
  readonly reason: string;
}

export interface QemuFacts {
  readonly version: string;
  readonly machine: string;
  readonly ramBytes: number;
  readonly ignoreShared: boolean;
  readonly status: string;
}

/** What QMP says about one QEMU: version, resolved machine type, RAM size, x-ignore-shared support, run state. */
export async function qemuFacts(vm: QmpTarget): Promise<QemuFacts> {
  const v = await vm.qmp.execute<{ qemu: { major: number; minor: number; micro: number }; package: string }>('query-version');
  const machine = await vm.qmp.execute<string>('qom-get', { path: '/machine', property: 'type' });
  const memory = await vm.qmp.execute<{ 'base-memory': number }>('query-memory-size-summary');
  const caps = await vm.qmp.execute<{ capability: string }[]>('query-migrate-capabilities');
  return {
    version: `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}${v.package}`,
    machine,
    ramBytes: memory['base-memory'],
    ignoreShared: caps.some((c) => c.capability === 'x-ignore-shared'),
    status: (await vm.qmp.execute<{ status: string }>('query-status')).status,
  };
}

/**
 * Everything that must hold before a page moves: Ferry's probe (the destination engine takes a
 * guest of this layout) and the VMM's side (same QEMU version and resolved machine type, same
 * RAM size, RAM files present at that size, x-ignore-shared on both, the source running and the
 * destination waiting for an incoming migration). Returns every refusal, empty when compatible.
 */
export async function checkCompatible(
  source: QemuVm,
  destination: QemuVm,
  engine: Omit<ProbeOptions, 'layout'> & { layout: MemoryLayout },
): Promise<Refusal[]> {
  const refusals: Refusal[] = [];
  const [s, d] = await Promise.all([qemuFacts(source), qemuFacts(destination)]);
  if (s.version !== d.version) refusals.push({ check: 'qemu-version', reason: `source runs QEMU ${s.version}, destination ${d.version}` });
  if (s.machine !== d.machine) refusals.push({ check: 'machine-type', reason: `source machine ${s.machine}, destination ${d.machine}` });
  if (s.ramBytes !== d.ramBytes) refusals.push({ check: 'ram-size', reason: `source RAM ${s.ramBytes} B, destination ${d.ramBytes} B` });
  for (const [side, f] of [
    ['source', s],
    ['destination', d],
  ] as const) {
    if (!f.ignoreShared) refusals.push({ check: 'x-ignore-shared', reason: `the ${side} QEMU has no x-ignore-shared capability` });
  }
  for (const [side, vm] of [
    ['source', source],
    ['destination', destination],
  ] as const) {
    const size = fileSize(vm.spec.ramPath);
    if (size === undefined) refusals.push({ check: 'ram-file', reason: `the ${side}'s RAM file ${vm.spec.ramPath} is missing` });
    else if (size !== vm.spec.ramBytes)
      refusals.push({
        check: 'ram-file',
        reason: `the ${side}'s RAM file ${vm.spec.ramPath} has ${size} B, the guest ${vm.spec.ramBytes} B`,
      });
  }
  if (s.status !== 'running') refusals.push({ check: 'source-state', reason: `the source VM is ${s.status}, not running` });
  if (d.status !== 'inmigrate')
    refusals.push({ check: 'destination-state', reason: `the destination QEMU is ${d.status}, not waiting for an incoming migration` });
  const layoutBytes = engine.layout.regions.reduce((sum, r) => sum + r.sizeBytes, 0);
  if (layoutBytes !== s.ramBytes)
    refusals.push({ check: 'layout', reason: `Ferry maps ${layoutBytes} B, QEMU has ${s.ramBytes} B of RAM` });
  const answer = await probe(engine);
  if (!answer.accepted) refusals.push({ check: 'ferry-probe', reason: `${answer.code}: ${answer.reason}` });
  return refusals;
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
