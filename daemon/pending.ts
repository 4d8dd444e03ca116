// Requests on a session's control stream that wait for the peer's answer (opens, checks,
// pings): each has a timeout, and all of them fail together when the session ends.

interface Entry<T, X> {
  resolve: (v: T) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
  extra: X
}

/** Outstanding requests by id. `extra` travels with each (a stream, a send time). */
export class PendingTable<T, X = undefined> {
  private readonly entries = new Map<number, Entry<T, X>>()

  /** Wait for the answer to request `id`; after `timeoutMs` it fails with `onTimeout()` (and `drop` runs). */
  add(id: number, extra: X, timeoutMs: number, onTimeout: () => Error, drop?: (extra: X) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.entries.delete(id)
        drop?.(extra)
        reject(onTimeout())
      }, timeoutMs)
      this.entries.set(id, { resolve, reject, timer, extra })
    })
  }

  /** Remove and return request `id` (its timer stopped), if it is still waiting. */
  take(id: number): Omit<Entry<T, X>, 'timer'> | undefined {
    const e = this.entries.get(id)
    if (!e) return undefined
    this.entries.delete(id)
    clearTimeout(e.timer)
    return e
  }

  /** Fail every waiting request with `err` (and run `drop` on each). */
  rejectAll(err: Error, drop?: (extra: X) => void): void {
    for (const e of this.entries.values()) {
      clearTimeout(e.timer)
      drop?.(e.extra)
      e.reject(err)
    }
    this.entries.clear()
  }
}
