/** A command line that cannot run: exit code 2, the message printed without a stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
