// Summary statistics over samples (pure): quantiles by linear interpolation between order statistics.

/** The q-quantile (0..1) of `xs`, interpolating between neighbours; NaN for no samples. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5)
}

/** A compact summary of latency-like samples. */
export interface Summary { n: number; min: number; p50: number; p90: number; p99: number; max: number; mean: number }

/** Summarise samples (all fields NaN but n when empty). */
export function summarize(xs: readonly number[]): Summary {
  const mean = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN
  return { n: xs.length, min: quantile(xs, 0), p50: quantile(xs, 0.5), p90: quantile(xs, 0.9), p99: quantile(xs, 0.99), max: quantile(xs, 1), mean }
}
