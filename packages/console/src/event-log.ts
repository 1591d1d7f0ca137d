/** Most messages kept for replay; past it the oldest go (a page opened that late misses them). */
const MAX_MESSAGES = 20_000;

/**
 * Every message published, as SSE frames, so that a page opened late replays the run from its
 * start. Frames carry an `id` (they only grow): a reconnecting EventSource sends the last it saw
 * and gets only what came after, never the same message twice.
 */
export class EventLog {
  private readonly frames: { readonly id: number; readonly frame: string }[] = [];
  private nextId = 1;

  append(topic: string, data: unknown): string {
    const id = this.nextId++;
    const frame = `id: ${id}\nevent: ${topic}\ndata: ${JSON.stringify(data)}\n\n`;
    this.frames.push({ id, frame });
    if (this.frames.length > MAX_MESSAGES) this.frames.splice(0, this.frames.length - MAX_MESSAGES);
    return frame;
  }

  /** Every frame after `afterId` (0: all kept). */
  replay(afterId = 0): string {
    let out = '';
    for (const f of this.frames) if (f.id > afterId) out += f.frame;
    return out;
  }
}
