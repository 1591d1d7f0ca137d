/** Lets a queue's reader sleep until the writer has something for it, or a timeout passes. */
export class Waker {
  private resolve: (() => void) | undefined;

  /** Ends the current `wait`, if any. */
  wake(): void {
    this.resolve?.();
  }

  /** Resolves at the next `wake` or after `ms`, whichever is first. */
  async wait(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.resolve = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.resolve = undefined;
  }
}
