// The lab's fault injection does what it says: NATs forget mappings and hand out new ports, WAN
// addresses change, brokers die — and an existing tunnel outlives its broker.
import { describe, expect, it } from 'vitest'
import { labPerTest } from './nodes.js'
import { labSkipReason } from './netns.js'
import { observedMappings } from './nat-check.js'
import { startServer, transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const reason = await labSkipReason('the NAT lab faults')

describe.skipIf(reason !== null)('NAT lab faults', () => {
  const freshLab = labPerTest()

  it('a NAT that forgets its mappings hands out new external ports', async () => {
    const { lab } = await freshLab()
    const r = await lab.router('cone')
    const h = await lab.host('h', r)
    const before = await observedMappings(lab, h)
    // Port-preserving cone: the external port is the local one.
    expect(Object.values(before.seen).every((v) => v === `${r.wan}:${before.local}`)).toBe(true)
    await lab.forgetMappings(r)
    const after = await observedMappings(lab, h)
    const ports = Object.values(after.seen).map((v) => Number(v.split(':')[1]))
    expect(ports.every((p) => p >= 20000 && p <= 29999)).toBe(true)
    expect(new Set(ports).size).toBe(1)
  })

  it('a NAT whose WAN address changes shows the new address', async () => {
    const { lab } = await freshLab()
    const r = await lab.router('cone')
    const h = await lab.host('h', r)
    const old = r.wan
    const next = await lab.changeWan(r)
    expect(next).not.toBe(old)
    const o = await observedMappings(lab, h)
    expect(Object.values(o.seen).every((v) => v.startsWith(`${next}:`))).toBe(true)
  })

  it('a killed broker costs nothing to an existing tunnel, and the daemons notice it', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('cone'))
    const b = await lab.host('b', await lab.router('cone'))
    const broker = await nodes.broker()
    const alice = await nodes.daemon('alice', a, { extra: ['--keepalive', '1'] })
    const bob = await nodes.daemon('bob', b)
    await startServer(lab, b, 9000)
    expect((await nodes.ctl(bob, ['expose', '9000', '--peer', 'alice'])).code).toBe(0)
    expect((await nodes.ctl(alice, ['forward', '9100', '--peer', 'bob', '--to', '9000'])).code).toBe(0)
    broker.child.kill('SIGKILL')
    await waitFor(async () => {
      const s = JSON.parse((await nodes.ctl(alice, ['status', '--json'])).stdout) as { brokers: { state: string }[] }
      return s.brokers[0]!.state === 'unreachable'
    }, { timeoutMs: 15_000, intervalMs: 200, what: 'alice to see the broker unreachable' })
    const t = await transfer(lab, a, 'download', 9100, 8 * 1024 * 1024)
    expect(t, JSON.stringify(t)).toMatchObject({ ok: true, bytes: 8 * 1024 * 1024 })
  })
})
