// A session's round-trip estimate. Heartbeat pings are samples too (not only `p2pctl ping`), so
// `peers` shows a live figure. The punch's estimate it starts from was taken while both daemons
// were busy signing probes (tens of ms on a loaded machine, even on loopback): the first real
// sample replaces it, later ones are smoothed (¾ old, ¼ new).

// Heartbeat ids live in the upper half, apart from explicit pings' ids (counted up from 1).
const FIRST_BEAT = 0x80000000

/** Round-trip estimate of one session, ms. */
export class RttEstimate {
  /** The estimate (null: none yet). */
  value: number | null
  private beatId = FIRST_BEAT
  private beatAt: number | null = null
  private measured = false

  /** `initial`: the punch's estimate; `onSample` runs for every sample taken. */
  constructor(initial: number | null, private readonly onSample: () => void = () => {}) {
    this.value = initial
  }

  /** The id for a heartbeat ping leaving at `now` (only the last one's answer is a sample). */
  nextBeat(now: number): number {
    this.beatId = this.beatId >= 0xfffffff0 ? FIRST_BEAT : this.beatId + 1
    this.beatAt = now
    return this.beatId
  }

  /** A pong with `id` arrived at `now`: true when it answered the last heartbeat (a sample was taken). */
  beatAnswered(id: number, now: number): boolean {
    if (id !== this.beatId || this.beatAt === null) return false
    this.sample(now - this.beatAt)
    this.beatAt = null
    return true
  }

  /** One round trip of `ms`. */
  sample(ms: number): void {
    this.value = !this.measured || this.value === null ? ms : this.value * 0.75 + ms * 0.25
    this.measured = true
    this.onSample()
  }
}
