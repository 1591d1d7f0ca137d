/**
 * A kill trial: the source and the destination each in its own process, the fault proxy here,
 * and kill -9 of one of them as a chosen frame crosses. Afterwards the campaign reads what the
 * processes left (memory files, hook logs) and judges where the guest is.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory } from '@ferry/engine';
import { findTornPages } from '@ferry/engine/testing';
import { classify } from './classifier.ts';
import { compareGuests, type GuestImage } from './compare.ts';
import type { CrashTrap } from './crash-trap.ts';
import { describeFault } from './fault.ts';
import { faultProxy } from './fault-proxy.ts';
import { HOST_CONFIG_ENV, type HostConfig, hostFiles } from './host-config.ts';
import { type HostProcess, startHost } from './host-process.ts';
import type { Comparison, Observation, SideEnd } from './observation.ts';
import { pausedBy } from './planes.ts';
import { Rng } from './rng.ts';
import { byDeadline, destinationOutcome, sleep } from './settle.ts';
import type { TrialRecord } from './trial-record.ts';
import { hangLimitMs, TIMEOUTS, type TrialPlan } from './trial-plan.ts';

/** Where memory files go: RAM-backed /dev/shm when there is one. */
function scratchRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

function readLog(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
    : [];
}

export async function runProcessTrial(plan: Extract<TrialPlan, { kind: 'kill' | 'fault' }>, trap: CrashTrap): Promise<TrialRecord> {
  trap.take();
  const setup = plan.setup;
  const dir = mkdtempSync(join(scratchRoot(), 'ferry-faults-'));
  const secrets = new Rng(plan.seed ^ 0xdee5);
  const deviceState = secrets.bytes(setup.deviceStateBytes);
  const psk = setup.psk ? secrets.bytes(32) : undefined;
  const config: HostConfig = {
    dir,
    seed: plan.seed,
    setup,
    deviceStateHex: Buffer.from(deviceState).toString('hex'),
    ...(psk && { pskHex: Buffer.from(psk).toString('hex') }),
  };
  writeFileSync(hostFiles.config(dir), JSON.stringify(config));
  const env = { [HOST_CONFIG_ENV]: hostFiles.config(dir) };
  const hosts: Partial<Record<'source' | 'destination', HostProcess>> = {};
  try {
    const [destination, source] = await Promise.all([
      startHost(new URL('./destination-process.ts', import.meta.url), env),
      startHost(new URL('./source-process.ts', import.meta.url), env),
    ]);
    hosts.destination = destination;
    hosts.source = source;
    const proxy = await faultProxy({ targetPort: destination.port, fault: plan.fault, onKill: (who) => hosts[who]?.kill() });
    const started = performance.now();
    const deadline = started + hangLimitMs(setup);
    source.send({ go: proxy.port });
    const sourceOutcome = await byDeadline(source.result, deadline);
    const dstOutcome = await destinationOutcome(
      destination.result,
      () => readLog(hostFiles.destinationLog(dir)).includes('accepted'),
      TIMEOUTS.handshakeTimeoutMs + 500,
      deadline,
    );
    const durationMs = performance.now() - started;
    await proxy.close();
    for (const h of [source, destination]) h.send({ exit: true });
    await Promise.race([Promise.all([source.exited, destination.exited]), sleep(2000)]);
    for (const h of [source, destination]) h.kill();
    await Promise.all([source.exited, destination.exited]);

    const sourceCalls = readLog(hostFiles.sourceLog(dir)).filter((l) => !l.startsWith('end '));
    const destinationCalls = readLog(hostFiles.destinationLog(dir)).filter(
      (l) => !l.startsWith('end ') && !l.startsWith('event ') && l !== 'accepted',
    );
    const paused = pausedBy(sourceCalls);
    const sourceImage = (): GuestImage => ({
      pageSize: 4096,
      regions: setup.regionsMiB.map((_, i) => ({ name: `ram${i}`, bytes: readFileSync(hostFiles.sourceRegion(dir, i)) })),
      deviceState,
      guestId: 'faults-guest',
    });
    // A source killed while its guest ran may have died inside a page write: nothing to check then.
    const tornPages =
      sourceOutcome.end === 'killed' && !paused
        ? undefined
        : findTornPages(GuestMemory.wrap({ regions: sourceImage().regions.map((r) => ({ name: r.name, bytes: new Uint8Array(r.bytes) })) }))
            .length;
    let comparison: Comparison | undefined;
    const identityPath = hostFiles.destinationIdentity(dir);
    if (readLog(hostFiles.destinationLog(dir)).some((l) => l === 'end {"end":"completed"}') && existsSync(identityPath)) {
      const identity = JSON.parse(readFileSync(identityPath, 'utf8')) as { guestId: string; pageSize: number; regions: { name: string }[] };
      comparison = compareGuests(sourceImage(), {
        pageSize: identity.pageSize,
        guestId: identity.guestId,
        regions: identity.regions.map((r, i) => ({ name: r.name, bytes: readFileSync(hostFiles.destinationRegion(dir, i)) })),
        deviceState: readFileSync(hostFiles.destinationDeviceState(dir)),
      });
    }
    // A destination killed after it completed still completed.
    const destinationEnd: SideEnd = comparison && dstOutcome.end === 'killed' ? { end: 'completed' } : dstOutcome;
    const observation: Observation = {
      source: {
        outcome: sourceOutcome,
        paused,
        resumed: sourceCalls.includes('resume'),
        released: sourceCalls.includes('release'),
        calls: sourceCalls,
        tornPages,
      },
      destination: { outcome: destinationEnd, resumed: destinationCalls.includes('resume'), calls: destinationCalls },
      ...(comparison && { comparison }),
      crashes: trap.take(),
      leaks: [],
      ...(proxy.injected && { injected: proxy.injected }),
      durationMs,
    };
    const verdict = classify(observation);
    const events = readLog(hostFiles.destinationLog(dir))
      .filter((l) => l.startsWith('event '))
      .map((l) => `destination ${l.slice(6)}`);
    return {
      trial: plan.trial,
      seed: plan.seed,
      kind: plan.kind,
      cell: plan.cell,
      fault: describeFault(plan.fault),
      setup,
      class: verdict.class,
      reasons: verdict.reasons,
      ...(proxy.injected && { injected: proxy.injected }),
      source: { end: sourceOutcome, calls: sourceCalls },
      destination: { end: destinationEnd, calls: destinationCalls },
      events,
      durationMs: Math.round(durationMs),
    };
  } finally {
    for (const h of Object.values(hosts)) h?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
