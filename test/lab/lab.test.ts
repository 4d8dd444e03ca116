// The lab harness itself: it cleans up after itself, and its rate cap is real.
import { describe, expect, it } from 'vitest'
import { Lab } from './lab.js'
import { labSkipReason, sh } from './netns.js'
import { startServer } from './traffic.js'

const reason = await labSkipReason('the NAT lab harness tests')

describe.skipIf(reason !== null)('lab harness', () => {
  it('destroy() removes every namespace and kills every process it started', async () => {
    const lab = await Lab.create()
    let pid = 0
    try {
      const h = await lab.host('h', await lab.router('symmetric', { lossPct: 1, rateMbit: 100 }))
      const p = lab.spawn(h.ns, ['sleep', '600'])
      pid = p.pid!
      expect((await sh(['ip', 'netns', 'list'])).split('\n').filter((l) => l.startsWith(lab.inet.slice(0, -1))).length).toBe(3)
    } finally {
      await lab.destroy()
    }
    const after = await sh(['ip', 'netns', 'list'])
    expect(after.split('\n').some((l) => l.startsWith(lab.inet.slice(0, -1)))).toBe(false)
    expect(() => process.kill(pid, 0)).toThrow()
  })

  it('caps the WAN rate with tbf', async () => {
    const lab = await Lab.create()
    try {
      const r = await lab.router('cone', { rateMbit: 20 })
      const h = await lab.host('h', r)
      const pub = await lab.host('p', null)
      await startServer(lab, pub, 9000, '0.0.0.0')
      // Straight TCP across the capped router to a public host (no p2pd involved).
      const out = await lab.exec(h.ns, [process.execPath, '-e', `
        const s = require('node:net').connect(9000, '${pub.ip}', () => s.write('D4194304\\n'))
        let n = 0; s.on('data', (d) => { n += d.length }); s.on('end', () => { console.log(n); process.exit(0) })
      `], 30_000)
      expect(Number(out.trim())).toBe(64 + 4 * 1024 * 1024)
      const stats = await lab.exec(r.ns, ['tc', '-s', 'qdisc', 'show', 'dev', 'lanbr'])
      expect(stats).toContain('tbf')
      expect(Number(/overlimits (\d+)/.exec(stats)?.[1] ?? 0)).toBeGreaterThan(0)
    } finally {
      await lab.destroy()
    }
  })
})
