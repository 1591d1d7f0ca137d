/** The engine options of a trial's two sides, from its setup: short timeouts, the strategy, its policy. */
import type {
  DestinationControlPlane,
  GuestMemory,
  ListenOptions,
  MigrateOptions,
  SourceControlPlane,
  SwitchoverPolicy,
  WriteBarrierTracker,
} from '@ferry/engine';
import { type MigrationSetup, MAX_TRIAL_GUEST_BYTES, TIMEOUTS } from './trial-plan.ts';

/**
 * The policy: a fixed number of pre-copy rounds, then the switchover (pre-copy) or post-copy
 * (hybrid), so that a trial's frames are the same every time its seed runs.
 */
export function trialPolicy(setup: MigrationSetup): SwitchoverPolicy {
  return (f) =>
    f.roundsSent < setup.rounds
      ? { action: 'continue' }
      : setup.strategy === 'hybrid'
        ? { action: 'postcopy', reason: 'trial' }
        : { action: 'switchover', reason: 'trial' };
}

export function migrateOptions(
  setup: MigrationSetup,
  ctx: { port: number; memory: GuestMemory; tracker: WriteBarrierTracker; controlPlane: SourceControlPlane; psk: Uint8Array | undefined },
): MigrateOptions {
  const recoveryMs = setup.recovery ? TIMEOUTS.recoveryTimeoutMs : 0;
  return {
    host: '127.0.0.1',
    port: ctx.port,
    memory: ctx.memory,
    tracker: ctx.tracker,
    controlPlane: ctx.controlPlane,
    guestId: 'faults-guest',
    strategy: setup.strategy,
    policy: trialPolicy(setup),
    channels: setup.channels,
    compression: setup.compression,
    deviceStateBytes: setup.deviceStateBytes,
    ...(ctx.psk && { psk: ctx.psk }),
    handshakeTimeoutMs: TIMEOUTS.handshakeTimeoutMs,
    idleTimeoutMs: TIMEOUTS.idleTimeoutMs,
    frameDeadlineMs: TIMEOUTS.frameDeadlineMs,
    handoverTimeoutMs: TIMEOUTS.handoverTimeoutMs,
    precopyRecoveryMs: setup.strategy === 'postcopy' ? 0 : recoveryMs,
    recoveryTimeoutMs: recoveryMs,
  };
}

export function listenOptions(
  setup: MigrationSetup | undefined,
  controlPlane: DestinationControlPlane,
  psk: Uint8Array | undefined,
  onEvent?: ListenOptions['onEvent'],
): ListenOptions {
  return {
    controlPlane,
    host: '127.0.0.1',
    ...(psk && { psk }),
    maxGuestBytes: MAX_TRIAL_GUEST_BYTES,
    handshakeTimeoutMs: TIMEOUTS.handshakeTimeoutMs,
    idleTimeoutMs: TIMEOUTS.idleTimeoutMs,
    frameDeadlineMs: TIMEOUTS.frameDeadlineMs,
    recoveryTimeoutMs: setup?.recovery === false ? 0 : TIMEOUTS.recoveryTimeoutMs,
    ...(onEvent && { onEvent }),
  };
}
