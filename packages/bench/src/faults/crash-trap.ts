/** Catches uncaught exceptions and unhandled rejections while trials run in this process, instead of dying on the first. */
export class CrashTrap {
  private readonly seen: string[] = [];
  private readonly onError = (err: unknown): void => {
    this.seen.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  };

  start(): void {
    process.on('uncaughtException', this.onError);
    process.on('unhandledRejection', this.onError);
  }

  stop(): void {
    process.off('uncaughtException', this.onError);
    process.off('unhandledRejection', this.onError);
  }

  /** What was caught since the last call. */
  take(): string[] {
    return this.seen.splice(0);
  }
}
