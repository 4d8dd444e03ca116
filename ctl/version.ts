// p2pctl's version is the package's: find package.json above this file, whether it runs from
// ctl/ (source) or dist/ctl/ (built).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The version field of the p2pd package.json, or "unknown" if it cannot be found. */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'p2pd' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not here; keep walking up
    }
    dir = dirname(dir)
  }
  return 'unknown'
}
