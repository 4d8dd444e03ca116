// Replay protection for signed messages: a timestamp window plus memory of (key, nonce) pairs.
// Pure: the caller passes `now`. A (key, nonce) only needs remembering while its timestamp is
// inside the window; after that the timestamp check alone refuses it.
import { bytesEqual, keyToHex } from './identity.js'

/** Verdict of ReplayGuard.check without a tag. */
export type ReplayVerdict = 'ok' | 'stale' | 'replayed'
/** Verdict of ReplayGuard.check with a tag: 'retry' = the very same message seen before. */
export type TaggedReplayVerdict = ReplayVerdict | 'retry'

/** Options for ReplayGuard. */
export interface ReplayGuardOptions {
  /** Accept timestamps within ±windowMs of now (default 60 000). */
  windowMs?: number
  /** Most (key, nonce) pairs remembered; the oldest is evicted beyond it (default 100 000). */
  maxEntries?: number
}

interface Entry {
  timestamp: number
  forgetAt: number
  tag: Uint8Array | undefined
}

/** Refuses stale timestamps and reused (key, nonce) pairs, in bounded memory. */
export class ReplayGuard {
  readonly windowMs: number
  readonly maxEntries: number
  // Insertion order is arrival order, which is what "evict oldest" means.
  private readonly seen = new Map<string, Entry>()
  // Evicting a pair still inside the window would let it be replayed, so everything at or below
  // the newest evicted timestamp is refused instead (fail closed; only matters under a flood).
  private watermark = -Infinity

  constructor(opts: ReplayGuardOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000
    this.maxEntries = opts.maxEntries ?? 100_000
    if (!(this.windowMs > 0)) throw new RangeError('windowMs must be positive')
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries > 0)) throw new RangeError('maxEntries must be a positive integer')
  }

  /** Number of remembered pairs (for tests and stats). */
  get size(): number {
    return this.seen.size
  }

  /**
   * Check and remember a message. With `tag` (e.g. the message's signature, which for Ed25519 is
   * deterministic and so identifies the message), a second arrival of the identical message is
   * 'retry' rather than 'replayed', so idempotent retransmissions can be answered again.
   */
  check(key: Uint8Array, nonce: Uint8Array, timestamp: number, now: number): ReplayVerdict
  check(key: Uint8Array, nonce: Uint8Array, timestamp: number, now: number, tag: Uint8Array): TaggedReplayVerdict
  check(key: Uint8Array, nonce: Uint8Array, timestamp: number, now: number, tag?: Uint8Array): TaggedReplayVerdict {
    this.prune(now)
    if (!Number.isFinite(timestamp) || Math.abs(timestamp - now) > this.windowMs) return 'stale'
    const id = keyToHex(key) + ':' + keyToHex(nonce)
    const entry = this.seen.get(id)
    if (entry !== undefined) {
      return tag !== undefined && entry.tag !== undefined && bytesEqual(tag, entry.tag) && entry.timestamp === timestamp ? 'retry' : 'replayed'
    }
    if (timestamp <= this.watermark) return 'replayed'
    while (this.seen.size >= this.maxEntries) this.evictOldest(now)
    this.seen.set(id, { timestamp, forgetAt: timestamp + this.windowMs, tag: tag === undefined ? undefined : new Uint8Array(tag) })
    return 'ok'
  }

  // Drop expired pairs from the front. Entries arrive roughly in timestamp order; one with a
  // future timestamp may hold back later ones briefly, which costs memory, never correctness.
  private prune(now: number): void {
    for (const [id, entry] of this.seen) {
      if (entry.forgetAt >= now) break
      this.seen.delete(id)
    }
  }

  private evictOldest(now: number): void {
    const first = this.seen.entries().next()
    if (first.done === true) return
    const [id, entry] = first.value
    this.seen.delete(id)
    // A pair already past the window needs no watermark; one inside it does, but never above
    // `now`, so flooding with future timestamps cannot lock out honest clocks for long.
    if (entry.forgetAt >= now) this.watermark = Math.max(this.watermark, Math.min(entry.timestamp, now))
  }
}
