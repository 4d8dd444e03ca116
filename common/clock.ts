// Wall-clock milliseconds with a fraction: the state machines' `now` where they time round trips.
// Date.now() counts whole milliseconds, so a LAN's 0.3 ms round trip read as 0 or 1 ms.

/** Milliseconds since the epoch, sub-millisecond (monotonic within the process). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now()
}
