import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, LogFn } from 'pino'

/**
 * `request.log` made only when a request logs. Fastify gives every request a pino child with its
 * reqId, and pino runs the redaction rules over a child's bindings as it makes it: on a token
 * request, which logs nothing when all is well (and nothing at all below LOG_LEVEL=info), that
 * child was a visible share of the request's cost. The first call of any method makes the same
 * child with the same bindings and options, so every line written is unchanged.
 */
class LazyRequestLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | null = null

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  #made(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings, this.options))
  }

  get level(): string {
    return this.#child?.level ?? this.options.level ?? this.parent.level
  }

  set level(level: string) {
    this.#made().level = level
  }

  fatal(...args: unknown[]): void {
    this.#made().fatal(...(args as Parameters<LogFn>))
  }

  error(...args: unknown[]): void {
    this.#made().error(...(args as Parameters<LogFn>))
  }

  warn(...args: unknown[]): void {
    this.#made().warn(...(args as Parameters<LogFn>))
  }

  info(...args: unknown[]): void {
    this.#made().info(...(args as Parameters<LogFn>))
  }

  debug(...args: unknown[]): void {
    this.#made().debug(...(args as Parameters<LogFn>))
  }

  trace(...args: unknown[]): void {
    this.#made().trace(...(args as Parameters<LogFn>))
  }

  silent(...args: unknown[]): void {
    this.#made().silent(...(args as Parameters<LogFn>))
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#made().child(bindings, options)
  }
}

/** Fastify's childLoggerFactory: the per-request logger, made on first use. */
export function createRequestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options)
}
