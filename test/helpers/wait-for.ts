// Poll a condition until it holds or a deadline passes: tests wait for facts, never for time.

/** Options for waitFor. */
export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number
  /** Poll this often (default 10 ms). */
  intervalMs?: number
  /** What is awaited, for the timeout message ("bob connected"). */
  what?: string
}

/**
 * Resolve with the predicate's first truthy result; reject after timeoutMs, naming `what` and
 * the predicate's last error if it threw.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const intervalMs = opts.intervalMs ?? 10
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await predicate()
      if (value) return value as NonNullable<T>
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
