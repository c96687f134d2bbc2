import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

const LOOPBACK = '127.0.0.1';

/** One proxied connection: the client's socket, ours to the server, and whether it lost bytes. */
interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes were swallowed: the byte streams no longer line up, so the connection cannot be resumed. */
  poisoned: boolean;
  /** Per direction, the promise the next delayed chunk waits for (keeps chunks in order). */
  toServer: Promise<void>;
  toClient: Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a server on 127.0.0.1 that injects faults, for resilience
 * tests. Modes (until `reset()`):
 *
 * - pass-through (the default);
 * - `dropConnections()`: destroys every current connection at once (new ones are accepted);
 * - `delay(ms)`: holds each chunk `ms` in each direction, in order (a round trip gets 2 × ms slower);
 * - `dropNextReply()`: swallows the next reply and cuts its connection (the command did run);
 * - `blackHoleAfter(bytes)`: forwards `bytes` more bytes towards the server, then swallows everything
 *   in both directions, on current and new connections.
 *
 * `reset()` returns to pass-through and destroys the connections that lost bytes to the black hole:
 * TCP never drops bytes from the middle of a stream, so such a connection is dead (as after a real
 * partition, where it ends in a timeout or a reset); the client has to reconnect.
 */
export class FaultProxy {
  readonly #targetPort: number;
  readonly #links = new Set<Link>();
  #server: Server | undefined;
  #delayMs = 0;
  /** Bytes still forwarded before the black hole swallows; `null` when there is no black hole. */
  #blackHoleBudget: number | null = null;
  #dropNextReply = false;
  /** Counts of what was done, for the test's report. */
  readonly stats = { connections: 0, closed: 0, swallowedBytes: 0, delayedChunks: 0 };
  port = 0;

  /** Only a loopback target: this proxy never connects anywhere but 127.0.0.1. */
  constructor(target: { host: string; port: number }) {
    if (target.host !== LOOPBACK && target.host !== 'localhost') {
      throw new Error(`FaultProxy only proxies to ${LOOPBACK}, not ${target.host}`);
    }
    this.#targetPort = target.port;
  }

  /** Listens on a free port of 127.0.0.1. */
  async start(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** `redis://127.0.0.1:<port>` of the proxy. */
  get url(): string {
    return `redis://${LOOPBACK}:${this.port}`;
  }

  /** Destroys every current connection (as a server restart or a middlebox reset would). */
  dropConnections(): void {
    for (const link of this.#links) this.#destroy(link);
  }

  /** Holds every chunk `ms` in each direction from now on. */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Forwards `bytes` more bytes to the server, then swallows everything both ways until `reset()`. */
  blackHoleAfter(bytes: number): void {
    this.#blackHoleBudget = bytes;
  }

  /**
   * The next reply the server sends on any connection is swallowed and that connection cut: the
   * command ran, the client never hears so (as when a master dies right after applying a write).
   */
  dropNextReply(): void {
    this.#dropNextReply = true;
  }

  /** Back to pass-through; connections that lost bytes are destroyed. */
  reset(): void {
    this.#delayMs = 0;
    this.#blackHoleBudget = null;
    this.#dropNextReply = false;
    for (const link of this.#links) if (link.poisoned) this.#destroy(link);
  }

  /** Closes the port and every connection. */
  async stop(): Promise<void> {
    this.dropConnections();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  }

  #accept(client: Socket): void {
    this.stats.connections += 1;
    const upstream = connect({ host: LOOPBACK, port: this.#targetPort });
    const link: Link = { client, upstream, poisoned: false, toServer: Promise.resolve(), toClient: Promise.resolve() };
    this.#links.add(link);
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on('error', () => this.#destroy(link));
      socket.on('close', () => this.#destroy(link));
    }
    client.on('data', (chunk: Buffer) => this.#forward(link, chunk, 'toServer'));
    upstream.on('data', (chunk: Buffer) => this.#forward(link, chunk, 'toClient'));
  }

  #forward(link: Link, chunk: Buffer, direction: 'toServer' | 'toClient'): void {
    if (direction === 'toClient' && this.#dropNextReply) {
      this.#dropNextReply = false;
      this.stats.swallowedBytes += chunk.length;
      this.#destroy(link);
      return;
    }
    let data = chunk;
    if (this.#blackHoleBudget !== null) {
      const passing = direction === 'toServer' ? Math.min(this.#blackHoleBudget, data.length) : this.#blackHoleBudget === 0 ? 0 : data.length;
      if (direction === 'toServer') this.#blackHoleBudget -= passing;
      if (passing < data.length) {
        this.stats.swallowedBytes += data.length - passing;
        link.poisoned = true;
        data = data.subarray(0, passing);
      }
      if (data.length === 0) return;
    }
    const destination = direction === 'toServer' ? link.upstream : link.client;
    if (this.#delayMs === 0) {
      // Still behind chunks that are being delayed, so order holds when a delay ends.
      link[direction] = link[direction].then(() => write(destination, data));
      return;
    }
    this.stats.delayedChunks += 1;
    const due = Date.now() + this.#delayMs;
    link[direction] = link[direction].then(async () => {
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      write(destination, data);
    });
  }

  #destroy(link: Link): void {
    if (!this.#links.delete(link)) return;
    this.stats.closed += 1;
    link.client.destroy();
    link.upstream.destroy();
  }
}

function write(socket: Socket, data: Buffer): void {
  if (!socket.destroyed) socket.write(data);
}
