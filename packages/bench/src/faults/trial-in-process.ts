/**
 * A fault trial with both hosts in this process (no process is killed, so none is needed): a
 * `WriterGuest` writing on the source, a real `MigrationDestination`, and the fault proxy
 * between them. Waits for both sides up to the hang limit, then compares, classifies and
 * checks that every socket, timer and worker the trial opened was released.
 */
import { GuestMemory, type IncomingMigration, MigrationDestination, migrate, WriteBarrierTracker } from '@ferry/engine';
import { findTornPages, WriterGuest } from '@ferry/engine/testing';
import { classify } from './classifier.ts';
import { compareGuests } from './compare.ts';
import type { CrashTrap } from './crash-trap.ts';
import { describeFault } from './fault.ts';
import { faultProxy } from './fault-proxy.ts';
import { fillGuest } from './guest-fill.ts';
import type { Comparison, Observation } from './observation.ts';
import { pausedBy, recordingDestination, recordingSource } from './planes.ts';
import { leaksAfter, resourceCounts } from './resources.ts';
import { Rng } from './rng.ts';
import { byDeadline, destinationOutcome, settle, sleep } from './settle.ts';
import type { TrialRecord } from './trial-record.ts';
import { listenOptions, migrateOptions } from './trial-options.ts';
import { hangLimitMs, TIMEOUTS, type TrialPlan } from './trial-plan.ts';

const MiB = 2 ** 20;

export async function runInProcessTrial(plan: Extract<TrialPlan, { kind: 'fault' }>, trap: CrashTrap): Promise<TrialRecord> {
  trap.take();
  const baseline = resourceCounts();
  const setup = plan.setup;
  const rng = new Rng(plan.seed);
  const memory = GuestMemory.create({ regions: setup.regionsMiB.map((mib, i) => ({ name: `ram${i}`, sizeBytes: mib * MiB })) });
  fillGuest(memory, rng, setup.fillFraction);
  const tracker = new WriteBarrierTracker(memory.layout);
  const deviceState = rng.bytes(setup.deviceStateBytes);
  const psk = setup.psk ? rng.bytes(32) : undefined;
  const guest = new WriterGuest(memory, tracker, { pagesPerSec: setup.pagesPerSec, workingSetFraction: 0.5, seed: plan.seed | 1 });
  const source = recordingSource(guest, deviceState);
  const plane = recordingDestination({ touches: setup.postcopyTouches, rng: new Rng(plan.seed ^ 0x7a11) });
  const events: string[] = [];
  let accepted = false;
  const destination = await MigrationDestination.listen(
    listenOptions(setup, plane, psk, (e) => {
      if (e.type === 'phase') {
        accepted = true;
        events.push(`D ${e.to}`);
      }
      if (e.type === 'interrupted') events.push(`destination interrupted (${e.phase}): ${e.reason.slice(0, 120)}`);
      if (e.type === 'recovered') events.push(`destination recovered (${e.phase}, ${e.missingPages} missing)`);
      if (e.type === 'rejected') events.push(`destination rejected ${e.code}`);
    }),
  );
  const proxy = await faultProxy({ targetPort: destination.port, fault: plan.fault });
  await guest.ready;
  await sleep(50);
  const started = performance.now();
  const deadline = started + hangLimitMs(setup);
  const sourceEnd = settle(
    migrate({
      ...migrateOptions(setup, { port: proxy.port, memory, tracker, controlPlane: source, psk }),
      onEvent: (e) => {
        if (e.type === 'phase') events.push(`S ${e.to}`);
        if (e.type === 'reconnecting') events.push(`source reconnecting (${e.phase}): ${e.reason.slice(0, 120)}`);
        if (e.type === 'recovered') events.push(`source recovered (${e.phase})`);
      },
    }),
  );
  const destinationEnd = settle(destination.result);
  const sourceOutcome = await byDeadline(sourceEnd, deadline);
  // A destination that never accepted a migration waits for one forever: that is not a hang.
  const dstOutcome = await destinationOutcome(destinationEnd, () => accepted, TIMEOUTS.handshakeTimeoutMs + 500, deadline);
  const durationMs = performance.now() - started;

  const paused = pausedBy(source.calls);
  await guest.stop();
  let comparison: Comparison | undefined;
  if (dstOutcome.end === 'completed') {
    const incoming: IncomingMigration = await destination.result;
    comparison = compareGuests(
      { pageSize: memory.pageSize, regions: memory.regions, deviceState: source.saved.at(-1) ?? deviceState, guestId: 'faults-guest' },
      {
        pageSize: incoming.memory.pageSize,
        regions: incoming.memory.regions,
        deviceState: incoming.deviceState,
        guestId: incoming.guestId,
      },
    );
  }
  // A destination that runs the guest but did not complete: how far its memory is from the
  // source's frozen one, for the record (pages may be missing; the class does not depend on it).
  if (dstOutcome.end !== 'completed' && plane.resumedMemory && paused) {
    const theirs = plane.resumedMemory;
    let differ = 0;
    memory.regions.forEach((r, i) => {
      const other = theirs.regions[i]?.bytes;
      for (let p = 0; p < r.pageCount; p++) {
        const at = p * memory.pageSize;
        if (
          !other ||
          !Buffer.from(r.bytes.buffer, r.bytes.byteOffset + at, memory.pageSize).equals(
            Buffer.from(other.buffer, other.byteOffset + at, memory.pageSize),
          )
        )
          differ++;
      }
    });
    events.push(`destination memory after it resumed: ${differ} of ${memory.totalPages} pages differ from the source's`);
  }
  const tornPages = findTornPages(memory).length;
  await proxy.close();
  await destination.close();
  const hung = sourceOutcome.end === 'hung' || dstOutcome.end === 'hung';
  // Where a hang stopped: the frames that had crossed by then.
  if (hung)
    events.push(
      `frames: ${Object.entries(proxy.frameCounts)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
  const leaks = hung ? [] : await leaksAfter(baseline);
  const observation: Observation = {
    source: {
      outcome: sourceOutcome,
      paused,
      resumed: source.calls.includes('resume'),
      released: source.calls.includes('release'),
      calls: source.calls,
      tornPages,
    },
    destination: { outcome: dstOutcome, resumed: plane.calls.includes('resume'), calls: plane.calls },
    ...(comparison && { comparison }),
    crashes: trap.take(),
    leaks,
    ...(proxy.injected && { injected: proxy.injected }),
    durationMs,
  };
  const verdict = classify(observation);
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
    source: { end: sourceOutcome, calls: source.calls },
    destination: { end: dstOutcome, calls: plane.calls },
    // A livelock repeats itself: the first 40 events say what it was.
    events: events.length > 41 ? [...events.slice(0, 40), `... and ${events.length - 40} more`] : events,
    durationMs: Math.round(durationMs),
  };
}
