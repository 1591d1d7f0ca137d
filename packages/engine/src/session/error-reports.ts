import { encode, Msg } from '../protocol/registry.ts';

/** The three messages that carry an error report (§3.3): the source's, the destination's, and a refusal at the door. */
export type ReportMessage = 'ABORT' | 'FAILED' | 'HELLO_REJECT';

/** A whole frame reporting `error` (its code and words) as `kind`: what a side says before it closes. */
export function errorReport(kind: ReportMessage, error: { readonly code: string; readonly message: string }): Buffer {
  return encode(Msg[kind], { code: error.code, message: error.message });
}
