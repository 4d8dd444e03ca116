// Counters for hot paths: increments, no logs.

/** A named set of monotonic counters. */
export class Counters {
  private readonly values = new Map<string, number>()

  /** Add `n` (default 1) to `name`. */
  inc(name: string, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n)
  }

  /** Current value of `name`. */
  get(name: string): number {
    return this.values.get(name) ?? 0
  }

  /** All counters as a plain object. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)))
  }
}
