// `npm run demo` on a fresh clone: the demo runs every step, verifies its transfer and cleans up.
import { describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { Procs } from '../helpers/procs.js'

describe('demo', () => {
  it('runs end to end with --once and removes its temp dir', async () => {
    const procs = new Procs()
    try {
      const p = procs.spawn(resolve(import.meta.dirname, '../../dist/demo/demo.js'), ['--once'])
      const code = await p.exited
      const out = p.stdout()
      expect(code, p.stderr()).toBe(0)
      expect(out).toMatch(/sha256 verified: [0-9a-f]{64}/)
      expect(out).toContain('Commands to try')
      expect(out).toMatch(/direct udp/)
      const dir = /Cleaned up \((\S+) removed\)/.exec(out)?.[1]
      expect(dir).toBeDefined()
      expect(existsSync(dir!)).toBe(false)
    } finally {
      await procs.teardown()
    }
  }, 90_000)
})
