// Token buckets keyed by string (a source IP, a key), in bounded memory. Pure: time is passed in.

/** Options for RateLimiter. */
export interface RateLimiterOptions {
  /** Tokens added per second. */
  ratePerS: number
  /** Bucket capacity: the largest burst allowed after a quiet spell. */
  burst: number
  /** Most buckets kept; idle ones go first, then the least recently used (default 10 000). */
  maxKeys?: number
}

/** How many least-recently-used buckets makeRoom inspects for idle ones. */
const IDLE_SCAN = 64

interface Bucket {
  tokens: number
  last: number
}

/** A token-bucket rate limiter per key. */
export class RateLimiter {
  readonly ratePerS: number
  readonly burst: number
  readonly maxKeys: number
  // Map order is least-recently-used first: take() re-inserts the bucket it touches.
  private readonly buckets = new Map<string, Bucket>()

  constructor(opts: RateLimiterOptions) {
    this.ratePerS = opts.ratePerS
    this.burst = opts.burst
    this.maxKeys = opts.maxKeys ?? 10_000
    if (!(this.ratePerS > 0)) throw new RangeError('ratePerS must be positive')
    if (!(this.burst >= 1)) throw new RangeError('burst must be at least 1')
    if (!(Number.isInteger(this.maxKeys) && this.maxKeys > 0)) throw new RangeError('maxKeys must be a positive integer')
  }

  /** Number of buckets held (for tests and stats). */
  get size(): number {
    return this.buckets.size
  }

  /** Spend `cost` tokens of `key`'s bucket at time `now` (ms); false when there are not enough. */
  take(key: string, now: number, cost = 1): boolean {
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      this.makeRoom(now)
      bucket = { tokens: this.burst, last: now }
    } else {
      this.buckets.delete(key)
      bucket.tokens = this.refilled(bucket, now)
      // A clock that steps back must not mint tokens later.
      bucket.last = Math.max(bucket.last, now)
    }
    this.buckets.set(key, bucket)
    if (bucket.tokens < cost) return false
    bucket.tokens -= cost
    return true
  }

  private refilled(bucket: Bucket, now: number): number {
    const elapsedMs = Math.max(0, now - bucket.last)
    return Math.min(this.burst, bucket.tokens + (elapsedMs * this.ratePerS) / 1000)
  }

  // A bucket that has refilled completely behaves exactly like a missing one, so dropping it is
  // free. Look for such buckets among the least recently used few (a bounded scan, so a flood of
  // new keys costs O(1) each); only when none is idle drop the least recently used one, which
  // forgives whatever debt it had.
  private makeRoom(now: number): void {
    if (this.buckets.size < this.maxKeys) return
    let scanned = 0
    for (const [key, bucket] of this.buckets) {
      if (++scanned > IDLE_SCAN) break
      if (this.refilled(bucket, now) >= this.burst) this.buckets.delete(key)
    }
    while (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next()
      if (oldest.done === true) return
      this.buckets.delete(oldest.value)
    }
  }
}
