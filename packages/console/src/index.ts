/** @ferry/console: the management web console, mountable by any launcher or host. */
export { ConsoleServer, type ConsoleServerOptions } from './server.ts';
export {
  type ConsoleAction,
  ConsoleActionError,
  type ConsoleBackend,
  type ConsoleGuest,
  type ConsoleHost,
  type ConsoleSnapshot,
} from './backend.ts';
export { MigrationFollower } from './follow.ts';
export { type ConsoleMessage, parseEvents, readEvents } from './read-events.ts';
export { type ConsoleReport, downtimeParts, type PingBatch, Topic } from './topics.ts';
