import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One server-sent event: `event:` line (Anthropic names its events) and a JSON (or raw string) `data:`. */
export interface SseEvent {
  readonly event?: string;
  readonly data: unknown;
}

/** What the fake provider answers to one request. */
export type FakeReply =
  | { readonly status: number; readonly json: unknown; readonly headers?: Record<string, string> }
  | {
      readonly sse: readonly SseEvent[];
      /** Destroys the connection after this many events: a stream cut midway. */
      readonly cutAfter?: number;
      /** Keeps the connection open after the events until the client goes away (break / abort tests). */
      readonly hold?: boolean;
    };

/** A request the fake provider received. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingMessage['headers'];
}

/**
 * A fake LLM provider on 127.0.0.1: answers each request with the next reply queued for its path
 * (a 500 when none is left), in the provider's own JSON or SSE wire format. Counts what it received,
 * and notices when a client disconnects before a held stream ended.
 */
export class FakeLlmServer {
  readonly requests: ReceivedRequest[] = [];
  /** Requests whose client disconnected while the server was still streaming. */
  disconnects = 0;
  readonly #server: Server;
  readonly #queues = new Map<string, FakeReply[]>();
  readonly #disconnectWaiters: Array<() => void> = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<FakeLlmServer> {
    let instance: FakeLlmServer | undefined;
    const server = createServer((req, res) => void instance?.handle(req, res));
    instance = new FakeLlmServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return instance;
  }

  /** `http://127.0.0.1:PORT` */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Queues replies for requests whose path ends with `pathSuffix` (e.g. `/chat/completions`). */
  enqueue(pathSuffix: string, ...replies: FakeReply[]): void {
    this.#queues.set(pathSuffix, [...(this.#queues.get(pathSuffix) ?? []), ...replies]);
  }

  /** Requests received on paths ending with `pathSuffix`. */
  received(pathSuffix: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.path.endsWith(pathSuffix));
  }

  /** Resolves once `count` clients have disconnected from held streams. */
  waitForDisconnects(count: number): Promise<void> {
    if (this.disconnects >= count) return Promise.resolve();
    return new Promise((resolve) => this.#disconnectWaiters.push(() => this.disconnects >= count && resolve()));
  }

  reset(): void {
    this.requests.length = 0;
    this.disconnects = 0;
    this.#queues.clear();
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0] as string;
    this.requests.push({ method: req.method ?? 'GET', path, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: req.headers });
    const suffix = [...this.#queues.keys()].find((key) => path.endsWith(key));
    const reply = suffix === undefined ? undefined : this.#queues.get(suffix)?.shift();
    if (reply === undefined) {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no reply queued for ${path}` } }));
      return;
    }
    if ('json' in reply) {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.json));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders(); // the client has a response (and a stream) before the first event
    let finished = false;
    res.on('close', () => {
      if (finished) return;
      this.disconnects += 1;
      for (const waiter of this.#disconnectWaiters) waiter();
    });
    for (const [index, event] of reply.sse.entries()) {
      if (reply.cutAfter !== undefined && index >= reply.cutAfter) {
        finished = true;
        res.socket?.end(); // the connection drops mid-stream, after what was sent has been flushed
        return;
      }
      const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
      await new Promise<void>((resolve) => res.write(`${event.event === undefined ? '' : `event: ${event.event}\n`}data: ${data}\n\n`, () => resolve()));
    }
    if (reply.hold === true) return; // until the client disconnects
    finished = true;
    res.end();
  }
}
