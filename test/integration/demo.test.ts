// `npm run demo` on a fresh clone: the built demo (dist/demo/demo.js --once) runs the real broker
// and daemons, moves verified data through a forward, prints the commands to try and removes its
// temp dir. Needs `npx tsc -p tsconfig.json` first (npm test builds before it runs vitest).
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Procs } from '../helpers/procs.js'

describe('demo', () => {
  it('runs end to end with --once and removes its temp dir', async () => {
    const procs = new Procs()
    try {
      const p = procs.spawn(resolve(import.meta.dirname, '../../dist/demo/demo.js'), ['--once'])
      const code = await p.exited
      const out = p.stdout()
      expect(code, `stdout:\n${out}\nstderr:\n${p.stderr()}`).toBe(0)

      const dir = /^temp dir: (\S+)$/m.exec(out)?.[1]
      expect(dir).toBeDefined()
      expect(out).toMatch(/^\s+alice ready\s+key [0-9a-f]{64}/m)
      expect(out).toMatch(/^\s+bob\s+ready\s+key [0-9a-f]{64}/m)
      // UDP first; on loopback the kernel TCP path is often up by the time connect prints.
      expect(out).toMatch(/connected to bob: direct (udp|tcp)/)
      expect(out).toMatch(/GET \/\s+-> 200 "hello from bob/)
      expect(out).toMatch(/GET \/bytes\?n=16777216 -> 16 MiB in [\d.]+ s \([\d.]+ MB\/s\)/)
      expect(out).toMatch(/sha256 verified: [0-9a-f]{64} matches x-sha256/)
      expect(out).toMatch(/POST \/echo 1 MiB -> 1048576 bytes back, identical/)
      expect(out).toContain('Commands to try')
      expect(out).toContain(`P2PD_API=${dir}/alice.sock`)
      expect(out).toContain(`P2PD_API=${dir}/bob.sock`)
      expect(out).not.toContain('Press Ctrl-C')
      expect(out).toContain(`Cleaned up (${dir} removed)`)
      expect(existsSync(dir!)).toBe(false)
    } finally {
      await procs.teardown()
    }
  }, 60_000)
})
