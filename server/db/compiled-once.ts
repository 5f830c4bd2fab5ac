import type { Compilable, CompiledQuery, DialectAdapter, Kysely, QueryResult, Transaction } from 'kysely'
import type { Database } from './database.js'

type Executor = Kysely<Database> | Transaction<Database>

/** Stands for the i-th parameter while the query is built once; never sent to a database. */
const placeholder = (i: number) => `\u0000compiled-once-parameter-${i}\u0000`

interface Compiled {
  query: CompiledQuery
  /** For each parameter of the compiled SQL, the caller's parameter it takes, or null for a constant. */
  slots: Array<number | null>
}

/**
 * A query for a hot path, built and compiled by kysely once per dialect and then run with fresh
 * parameters: building and compiling cost as much as running a short statement (issue 15). `build`
 * gets stand-ins for its parameters and must use each one only as a value (a bound parameter), never
 * to choose the shape of the query; the first compilation checks that every stand-in was bound.
 */
export function compiledOnce<P extends unknown[], R>(
  build: (db: Executor, ...params: P) => Compilable<R>,
): (db: Executor, ...params: P) => Promise<QueryResult<R>> {
  const arity = build.length - 1
  // Keyed by the dialect's adapter: one per Kysely instance, shared by its transactions.
  const byAdapter = new WeakMap<DialectAdapter, Compiled>()
  const compile = (db: Executor, adapter: DialectAdapter): Compiled => {
    const stand = Array.from({ length: arity }, (_, i) => placeholder(i)) as P
    const query = build(db, ...stand).compile()
    const slots = query.parameters.map((value) => {
      const index = typeof value === 'string' ? stand.indexOf(value) : -1
      return index === -1 ? null : index
    })
    for (let i = 0; i < arity; i++)
      if (!slots.includes(i)) throw new Error(`compiledOnce: parameter ${i} is not bound in ${query.sql}`)
    const compiled = { query, slots }
    byAdapter.set(adapter, compiled)
    return compiled
  }
  return (db, ...params) => {
    const adapter = db.getExecutor().adapter
    const { query, slots } = byAdapter.get(adapter) ?? compile(db, adapter)
    const parameters = slots.map((slot, i) => (slot === null ? query.parameters[i] : params[slot]))
    return db.executeQuery<R>({ ...query, parameters })
  }
}
