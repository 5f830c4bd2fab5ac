/**
 * Whether an error means a backing service (PostgreSQL, Redis, SQLite's lock) cannot answer right
 * now, as opposed to a bug. http/error-handler.ts answers these with 503 and Retry-After; anything
 * else stays a 500 so real bugs are never hidden as outages. Only errors raised by the drivers'
 * connection handling are recognised: a failing SQL statement (syntax, constraint) is not an outage.
 */
export function isOutage(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (isOutageItself(current)) return true
    // Node's connect wraps the per-address ECONNREFUSED in an AggregateError (happy eyeballs).
    if (current instanceof AggregateError && current.errors.some((inner) => isOutage(inner))) return true
    current = current.cause
  }
  return false
}

/** Socket errors from the operating system while connecting to or talking with a backing service. */
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
])

/**
 * PostgreSQL SQLSTATEs (appendix A of its manual): class 08 connection exceptions, and class 57
 * operator intervention: 57P01 admin_shutdown (pg_ctl stop), 57P02 crash_shutdown, 57P03
 * cannot_connect_now (starting up or recovering), 57014 query_canceled (statement_timeout), and
 * 53300 too_many_connections.
 */
const postgresCodes = new Set(['57P01', '57P02', '57P03', '57014', '53300'])

/** SQLite: the writer lock is held longer than the busy timeout. */
const sqliteCodes = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED'])

/** pg (pg-pool, pg Client) and ioredis report lost or refused connections with these messages, without a code. */
const driverMessages = [
  /^Connection terminated/, // pg: "… unexpectedly", "… due to connection timeout"
  /^timeout exceeded when trying to connect$/, // pg-pool: connectionTimeoutMillis passed
  /^Client has encountered a connection error and is not queryable$/, // pg
  /^Client was closed and is not queryable$/, // pg
  /^Connection is closed\.$/, // ioredis
  /^Stream isn't writeable/, // ioredis, offline queue off
  /^Command timed out$/, // ioredis commandTimeout
  /^Reached the max retries per request limit/, // ioredis MaxRetriesPerRequestError
]

function isOutageItself(error: Error): boolean {
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (socketCodes.has(code) || sqliteCodes.has(code) || postgresCodes.has(code)) return true
    // A five-character SQLSTATE of class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true
  }
  if (error.name === 'MaxRetriesPerRequestError') return true
  return driverMessages.some((pattern) => pattern.test(error.message))
}
