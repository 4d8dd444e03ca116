// The results table (pure): one row per metric, p2pd against plain TCP on the same path.

/** One measured figure, p2pd against its plain-TCP baseline (null: no equivalent). */
export interface Row {
  metric: string
  unit: string
  p2pd: number | null
  plain: number | null
  /** Shown instead of the plain figure, e.g. why there is none or what it stands for. */
  plainNote?: string
  /** Decimal places for the figures (default 2). */
  digits?: number
}

/** p2pd / plain, or null when either side is missing or plain is zero. */
export function ratio(r: Pick<Row, 'p2pd' | 'plain'>): number | null {
  if (r.p2pd === null || r.plain === null || !Number.isFinite(r.p2pd) || !Number.isFinite(r.plain) || r.plain === 0) return null
  return r.p2pd / r.plain
}

function fmt(x: number | null, digits: number): string {
  if (x === null || !Number.isFinite(x)) return 'n/a'
  return x.toFixed(digits)
}

/** Render rows as an aligned text table (metric, p2pd, plain TCP, ratio). */
export function renderTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => {
    const d = r.digits ?? 2
    const q = ratio(r)
    const plain = r.plainNote ? (r.plain === null ? r.plainNote : `${fmt(r.plain, d)} (${r.plainNote})`) : fmt(r.plain, d)
    return [`${r.metric} [${r.unit}]`, fmt(r.p2pd, d), plain, q === null ? '-' : `${q.toFixed(2)}x`]
  })
  const head = ['metric', 'p2pd', 'plain (DNAT, no tunnel)', 'p2pd/plain']
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ').trimEnd()
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n')
}
