// Several brokers: daemons register with all of them, and get introduced through any live one.
// Broker 1 dies in the middle of a transfer: the transfer completes (the tunnel never needed
// it), and a new connect goes through broker 2 within seconds.
import { describe, expect, it } from 'vitest'
import { INTERNET } from './lab.js'
import { labPerTest } from './nodes.js'
import { labSkipReason } from './netns.js'
import { startServer, transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the several-brokers lab')

describe.skipIf(reason !== null)('several brokers', () => {
  const freshLab = labPerTest()

  it('broker 1 killed mid-transfer: the transfer completes sha256-equal, and a new connect succeeds through broker 2 within seconds', async () => {
    const { lab, nodes } = await freshLab()
    const brokers = [`${INTERNET.primary}:7000`, `${INTERNET.primary}:7001`]
    const broker1 = await nodes.broker(7000)
    const broker2 = await nodes.broker(7001)
    const a = await lab.host('a', await lab.router('cone', { rateMbit: 100 }))
    const b = await lab.host('b', await lab.router('cone'))
    const c = await lab.host('c', await lab.router('cone'))
    const alice = await nodes.daemon('alice', a, { brokers })
    const bob = await nodes.daemon('bob', b, { brokers })
    const carol = await nodes.daemon('carol', c, { brokers })
    for (const d of [alice, bob, carol]) {
      await waitFor(async () => (JSON.parse((await nodes.ctl(d, ['status', '--json'])).stdout) as { brokers: { state: string }[] }).brokers.every((x) => x.state === 'registered'), { timeoutMs: 15_000, intervalMs: 100, what: `${d.name} registered with both brokers` })
    }
    await startServer(lab, b, 9000)
    expect((await nodes.ctl(bob, ['expose', '9000', '--peer', 'alice'])).code).toBe(0)
    expect((await nodes.ctl(alice, ['forward', '9100', '--peer', 'bob', '--to', '9000'])).code).toBe(0)
    const bytesIn = async (): Promise<number> => (JSON.parse((await nodes.ctl(alice, ['forwards', '--json'])).stdout) as { bytesIn: number }[])[0]!.bytesIn

    const running = transfer(lab, a, 'download', 9100, 64 * MiB)
    await waitFor(async () => (await bytesIn()) > 4 * MiB, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
    broker1.child.kill('SIGKILL')
    // Alice has not noticed yet (her registration is not due for a refresh): the connect finds out.
    const t0 = performance.now()
    const r = await nodes.ctl(alice, ['connect', 'carol'])
    const ms = performance.now() - t0
    const logs = `\nalice: ${alice.err().slice(-2000)}\ncarol: ${carol.err().slice(-2000)}`
    expect(r.code, r.stderr + logs).toBe(0)
    expect(r.stdout + r.stderr).toContain(`asking broker ${INTERNET.primary}:7001`)
    expect(ms).toBeLessThan(10_000)
    const done = await running
    expect(done, JSON.stringify(done) + logs).toMatchObject({ ok: true, bytes: 64 * MiB })
    console.log(`broker 1 killed mid-transfer: connect to carol through broker 2 in ${Math.round(ms)} ms; 64 MiB in ${Math.round(done.ms)} ms, longest stall ${Math.round(done.maxGapMs ?? 0)} ms`)
    expect(broker2.child.exitCode).toBe(null)
    // Alice echoed her CONNECT, so carol got the introduction more than once and ran it once.
    expect(await nodes.counter(carol, 'introductions_duplicate')).toBeGreaterThan(0)
  }, 120_000)
})
