import { IpcChannel, type Message } from '../ipc.ts';

/**
 * The IPC channel of a host process to the launcher. The launcher owns the host's life: the
 * host ignores Ctrl-C (the launcher sees it too and shuts hosts down in order) and exits when
 * the channel closes, so a host never outlives its launcher.
 */
export function launcherChannel<Out extends Message, In extends Message>(name: string): IpcChannel<Out, In> {
  if (!process.send) {
    console.error(`${name}: this is a host process; run the demo with \`pnpm demo\``);
    process.exit(2);
  }
  const channel = new IpcChannel<Out, In>(process);
  process.on('SIGINT', () => {});
  process.on('disconnect', () => process.exit(1));
  return channel;
}

/** Reports a host's fatal error to the launcher and exits. */
export function die(channel: { send(message: { readonly type: 'fatal'; readonly message: string }): void }, err: unknown): void {
  channel.send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  console.error(err);
  setTimeout(() => process.exit(1), 200).unref();
}
