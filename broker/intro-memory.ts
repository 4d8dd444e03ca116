// What a broker remembers of the introductions it made: the punch nonce of each CONNECT (so an
// identical retry gets the same nonce) and which pair each nonce introduced (what a relay may
// serve). Both are bounded in size and age. Pure: time and randomness are passed in.

// Introductions are remembered this long for RELAY_REQUEST (a punch, then its re-tries).
const INTRO_MEMORY_MS = 120_000

interface RecentIntro {
  punchNonce: Uint8Array
  targetHex: string
  at: number
}

/** The two keys an introduction joined. */
export interface IntroPair {
  a: string
  b: string
  at: number
}

/** Recent introductions of one broker. */
export class IntroMemory {
  // "requesterHex:reqId" -> the introduction made, in time order.
  private readonly recent = new Map<string, RecentIntro>()
  // Punch nonce hex -> the two keys it introduced, in time order.
  private readonly pairs = new Map<string, IntroPair>()

  constructor(private readonly opts: { random: (n: number) => Uint8Array; retryMs: number; max: number }) {}

  /**
   * The punch nonce for a CONNECT. Only a true retry (the identical signed datagram) reuses one:
   * a restarted daemon may reuse a reqId with a new request, and must get a new introduction.
   * `fresh` is true when a new nonce was drawn.
   */
  nonceFor(requesterHex: string, reqId: number, targetHex: string, now: number, retry: boolean): { punchNonce: Uint8Array; fresh: boolean } {
    const id = `${requesterHex}:${reqId}`
    const prev = this.recent.get(id)
    if (retry && prev !== undefined && prev.targetHex === targetHex && now - prev.at <= this.opts.retryMs) return { punchNonce: prev.punchNonce, fresh: false }
    this.recent.delete(id)
    const punchNonce = this.opts.random(32)
    if (punchNonce.length !== 32) throw new RangeError('random(32) returned the wrong length')
    this.recent.set(id, { punchNonce, targetHex, at: now })
    trim(this.recent, this.opts.max)
    return { punchNonce, fresh: true }
  }

  /** Remember that nonce `id` (hex) introduced keys a and b. */
  remember(id: string, a: string, b: string, now: number): void {
    this.pairs.delete(id)
    this.pairs.set(id, { a, b, at: now })
    trim(this.pairs, this.opts.max)
  }

  /** The pair nonce `id` introduced, if still remembered. */
  pair(id: string): IntroPair | undefined {
    return this.pairs.get(id)
  }

  /** Forget what is too old to matter. */
  sweep(now: number): void {
    for (const [id, intro] of this.recent) {
      if (now - intro.at <= this.opts.retryMs) break
      this.recent.delete(id)
    }
    for (const [id, intro] of this.pairs) {
      if (now - intro.at <= INTRO_MEMORY_MS) break
      this.pairs.delete(id)
    }
  }
}

// Bounded: the oldest entries go first (maps iterate in insertion order).
function trim<V>(m: Map<string, V>, max: number): void {
  while (m.size > max) {
    const oldest = m.keys().next()
    if (oldest.done === true) break
    m.delete(oldest.value)
  }
}
