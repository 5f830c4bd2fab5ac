/** A failure the bench explains in its message: printed without a stack trace. */
export class BenchError extends Error {
  override name = 'BenchError'
}
