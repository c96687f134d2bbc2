import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type Bindings = Record<string, unknown>;
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
type LogArgs = [obj: unknown, msg?: string, ...rest: unknown[]];

// The caller's arguments exactly as given (pino reads a string first argument as the message).
function forward(logger: FastifyBaseLogger, level: Level, args: LogArgs): void {
  (logger[level] as (...a: unknown[]) => void).apply(logger, args);
}

/**
 * `request.log` that builds its pino child (bound to the request id) on its first log call only.
 * fastify creates one child logger per request; with request logging off (the default) most
 * requests never log a line, and a pino child (bindings serialized, redaction set up) was ~3 % of
 * the server's CPU per record. A request that does log gets the same child, request id included.
 */
class LazyRequestLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #real(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options));
  }

  get level(): string {
    return this.#child?.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  // Methods on the prototype, not closures per instance: nothing is allocated until a line is logged.
  fatal(...args: LogArgs): void {
    forward(this.#real(), 'fatal', args);
  }

  error(...args: LogArgs): void {
    forward(this.#real(), 'error', args);
  }

  warn(...args: LogArgs): void {
    forward(this.#real(), 'warn', args);
  }

  info(...args: LogArgs): void {
    forward(this.#real(), 'info', args);
  }

  debug(...args: LogArgs): void {
    forward(this.#real(), 'debug', args);
  }

  trace(...args: LogArgs): void {
    forward(this.#real(), 'trace', args);
  }

  silent(...args: LogArgs): void {
    forward(this.#real(), 'silent', args);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }
}

/** fastify's `childLoggerFactory`: a {@link LazyRequestLogger} per request. */
export const lazyChildLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options) =>
  new LazyRequestLogger(logger, bindings, options);
