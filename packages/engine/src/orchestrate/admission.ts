/** The destination's admission: whether it takes a guest, before anything is allocated for it. */
import { ErrorCode } from '../errors.ts';
import { checkLayout, totalBytes } from '../memory/layout.ts';
import { Feature, KNOWN_FEATURES, MIN_PROTOCOL_VERSION, NEGOTIATION_MIN_VERSION, PROTOCOL_VERSION } from '../protocol/constants.ts';
import type * as msg from '../protocol/messages.ts';
import type { IncomingGuest } from '../session/control-plane.ts';
import type { ListenOptions } from '../session/listen-options.ts';
import { destinationOffer, featureNames } from '../session/negotiation.ts';

/** Why a guest is refused: a stable code and words for the source's error. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
}

/** The reason to refuse `hello`, or undefined to accept it: version, features, layout, page size, size, then the control plane's veto. */
export async function admission(o: ListenOptions, hello: msg.Hello, guest: IncomingGuest): Promise<Refusal | undefined> {
  if (hello.versionMin > PROTOCOL_VERSION || hello.versionMax < MIN_PROTOCOL_VERSION) {
    return {
      code: ErrorCode.VERSION_UNSUPPORTED,
      message: `source speaks versions ${hello.versionMin}..${hello.versionMax}, we speak ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`,
    };
  }
  // Up to version 3 features are refuse-only; from version 4 the accept says which are taken.
  if (Math.min(PROTOCOL_VERSION, hello.versionMax) < NEGOTIATION_MIN_VERSION) {
    if ((hello.features & ~KNOWN_FEATURES) !== 0) {
      return { code: ErrorCode.INCOMPATIBLE_GUEST, message: `unknown feature bits 0x${hello.features.toString(16)}` };
    }
    const declined = hello.features & ~destinationOffer(o).features & ~Feature.PSK_AUTH;
    if (declined !== 0) {
      return { code: ErrorCode.INCOMPATIBLE_GUEST, message: `this destination does not take ${featureNames(declined)}` };
    }
  }
  try {
    checkLayout(guest.layout);
  } catch (err) {
    return { code: ErrorCode.INCOMPATIBLE_GUEST, message: (err as Error).message };
  }
  if (o.pageSizes && !o.pageSizes.includes(hello.pageSize)) {
    return {
      code: ErrorCode.INCOMPATIBLE_GUEST,
      message: `page size ${hello.pageSize} offered, this host runs ${o.pageSizes.join(' or ')}`,
    };
  }
  const maxGuestBytes = o.maxGuestBytes ?? 16 * 1024 ** 3;
  if (totalBytes(guest.layout) > maxGuestBytes) {
    return {
      code: ErrorCode.INCOMPATIBLE_GUEST,
      message: `guest has ${totalBytes(guest.layout)} bytes of memory, this host takes at most ${maxGuestBytes}`,
    };
  }
  try {
    const veto = await o.controlPlane.admit?.(guest);
    if (veto) return { code: ErrorCode.REJECTED, message: veto };
  } catch (err) {
    return { code: ErrorCode.REJECTED, message: `admission check failed: ${(err as Error).message}` };
  }
  return undefined;
}
