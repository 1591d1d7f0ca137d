import net from 'node:net';
import { LineSplitter } from '../lines.ts';

/** Where the proxy sends requests: a guest's port on one of the hosts. */
export interface Backend {
  readonly host: string;
  readonly port: number;
  readonly name: string;
}

export interface HoldRecord {
  readonly heldMs: number;
  /** Requests that arrived during the hold and waited for the release. */
  readonly requests: number;
  readonly releasedTo: string;
}

const CONNECT_TIMEOUT_MS = 5000;

/**
 * The guest's network identity: a stable address clients talk to, forwarding each request line
 * to wherever the guest runs now. In a data centre this is the VM's IP and MAC, moved by a
 * gratuitous ARP or an SDN update; here it is a line-level proxy the control plane can:
 *
 * - hold(): stop forwarding (new requests queue here) and resolve once every request already
 *   forwarded has been answered, so nothing is in flight when the guest pauses;
 * - point(): send traffic to another backend (only while held);
 * - release(): forward the queued requests, in order, and carry on.
 */
export class GuestProxy {
  private readonly server: net.Server;
  private readonly connections = new Set<ProxyConnection>();
  private target: Backend | undefined;
  private holding = false;
  private holdStartMs = 0;
  private onDrained: (() => void) | undefined;
  readonly holds: HoldRecord[] = [];

  private constructor() {
    this.server = net.createServer((socket) => {
      if (!this.target) {
        socket.destroy();
        return;
      }
      const connection = new ProxyConnection(this, socket, this.target);
      this.connections.add(connection);
      socket.once('close', () => {
        this.connections.delete(connection);
        this.checkDrained();
      });
    });
  }

  static async listen(port = 0): Promise<GuestProxy> {
    const proxy = new GuestProxy();
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(port, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get backend(): Backend | undefined {
    return this.target;
  }

  get held(): boolean {
    return this.holding;
  }

  /** Requests forwarded and not yet answered, over all connections. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.connections) n += c.inFlight;
    return n;
  }

  /** Stops forwarding; resolves when nothing is in flight. Rejects (and releases) after `timeoutMs`. */
  async hold(timeoutMs: number): Promise<void> {
    if (!this.holding) {
      this.holding = true;
      this.holdStartMs = performance.now();
    }
    if (this.inFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.onDrained = resolve;
        timer = setTimeout(() => reject(new Error(`${this.inFlight} requests still in flight after ${timeoutMs} ms`)), timeoutMs);
      });
    } catch (err) {
      this.release();
      throw err;
    } finally {
      this.onDrained = undefined;
      clearTimeout(timer);
    }
  }

  /**
   * Sends traffic to `backend` from now on. Existing client connections get a new backend
   * connection each; resolves once all of them are connected. Only while held, so that no
   * request is in flight to the old backend.
   */
  async point(backend: Backend): Promise<void> {
    if (this.target && !this.holding) throw new Error('repoint the proxy only while it holds traffic');
    this.target = backend;
    await Promise.all([...this.connections].map((c) => c.connect(backend)));
  }

  /** Forwards what queued during the hold; returns what the hold amounted to. */
  release(): HoldRecord | undefined {
    if (!this.holding) return undefined;
    this.holding = false;
    let requests = 0;
    for (const c of this.connections) requests += c.queued;
    const record: HoldRecord = { heldMs: performance.now() - this.holdStartMs, requests, releasedTo: this.target?.name ?? 'nobody' };
    this.holds.push(record);
    for (const c of this.connections) c.flush();
    return record;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Called by connections when a reply leaves: wakes a pending hold once nothing is in flight. */
  checkDrained(): void {
    if (this.onDrained && this.inFlight === 0) this.onDrained();
  }
}

/** One client connection and its connection to the current backend. */
class ProxyConnection {
  private readonly proxy: GuestProxy;
  private readonly client: net.Socket;
  private readonly fromClient = new LineSplitter();
  private upstream: net.Socket | undefined;
  private upstreamReady = false;
  private queue: string[] = [];
  inFlight = 0;

  constructor(proxy: GuestProxy, client: net.Socket, backend: Backend) {
    this.proxy = proxy;
    this.client = client;
    client.setNoDelay(true);
    client.on('error', () => this.destroy());
    client.on('close', () => this.destroy());
    client.on('data', (chunk: Buffer) => {
      try {
        for (const line of this.fromClient.push(chunk)) this.queue.push(line);
      } catch {
        this.destroy();
        return;
      }
      this.flush();
    });
    this.connect(backend).catch(() => this.destroy());
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Drops the current backend connection (nothing is in flight on it) and opens one to `backend`. */
  connect(backend: Backend): Promise<void> {
    const old = this.upstream;
    if (old) {
      old.removeAllListeners();
      old.on('error', () => {});
      old.destroy();
    }
    this.upstreamReady = false;
    const socket = net.connect({ host: backend.host, port: backend.port });
    this.upstream = socket;
    socket.setNoDelay(true);
    const fromGuest = new LineSplitter();
    socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = fromGuest.push(chunk);
      } catch {
        this.destroy();
        return;
      }
      if (lines.length === 0) return;
      this.inFlight -= lines.length;
      this.client.write(`${lines.join('\n')}\n`);
      if (this.inFlight <= 0) this.proxy.checkDrained();
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to the ${backend.name} guest at port ${backend.port} timed out`));
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.upstreamReady = true;
        this.flush();
        resolve();
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // A guest that goes away while it is our backend takes the client's connection with it.
      socket.on('close', () => {
        if (this.upstream === socket) this.destroy();
      });
    });
  }

  /** Forwards queued lines unless the proxy holds traffic or the backend is not connected yet. */
  flush(): void {
    if (this.proxy.held || !this.upstreamReady || !this.upstream || this.queue.length === 0) return;
    this.upstream.write(`${this.queue.join('\n')}\n`);
    this.inFlight += this.queue.length;
    this.queue = [];
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
    this.inFlight = 0;
    this.proxy.checkDrained();
  }
}
