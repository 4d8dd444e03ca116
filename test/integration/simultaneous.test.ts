// Both sides ask to connect at the same moment: they must end up with one session, agreed on.
import { afterAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { connect } from 'node:net'
import { Procs } from '../helpers/procs.js'
import { waitFor } from '../helpers/wait-for.js'

describe('simultaneous connect', () => {
  const procs = new Procs()
  afterAll(() => procs.teardown())

  it('alice and bob connect to each other at once: both connected, traffic flows both ways', async () => {
    const dir = await procs.tempDir()
    const A = join(dir, 'a.sock')
    const B = join(dir, 'b.sock')
    const { port } = await procs.broker()
    const alice = await procs.daemon({ name: 'alice', brokerPort: port, stateDir: join(dir, 'alice'), socket: A, extra: ['--log-level', 'info'] })
    const bob = await procs.daemon({ name: 'bob', brokerPort: port, stateDir: join(dir, 'bob'), socket: B, extra: ['--log-level', 'info'] })
    const logs = (): string => `\nalice: ${alice.proc.stderr().slice(-4000)}\nbob: ${bob.proc.stderr().slice(-4000)}`
    for (const s of [A, B]) await waitFor(async () => JSON.parse((await procs.ctl(s, ['status', '--json'])).stdout).brokers[0].state === 'registered', { timeoutMs: 10_000, what: 'registered' })
    const [ra, rb] = await Promise.all([procs.ctl(A, ['connect', 'bob']), procs.ctl(B, ['connect', 'alice'])])
    expect(ra.code, ra.stderr + logs()).toBe(0)
    expect(rb.code, rb.stderr + logs()).toBe(0)
    // An echo on each side, exposed to the other and forwarded: both directions carry data.
    const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s))
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()))
    const echoPort = (echo.address() as { port: number }).port
    try {
      for (const [me, peer, sock, other] of [['alice', 'bob', A, B], ['bob', 'alice', B, A]] as const) {
        expect((await procs.ctl(other, ['expose', String(echoPort), '--peer', me])).code).toBe(0)
        const local = 20000 + Math.floor(Math.random() * 20000)
        const f = await procs.ctl(sock, ['forward', String(local), '--peer', peer, '--to', String(echoPort)])
        expect(f.code, f.stderr + logs()).toBe(0)
        const reply = await new Promise<string>((resolve, reject) => {
          let got = ''
          const c = connect(local, '127.0.0.1', () => c.end(`hello from ${me}`))
          c.setTimeout(10_000, () => c.destroy(new Error(`no echo in 10 s${logs()}`)))
          c.on('data', (d: Buffer) => (got += d.toString()))
          c.on('error', reject)
          c.on('close', () => resolve(got))
        })
        expect(reply).toBe(`hello from ${me}`)
      }
    } finally {
      echo.close()
    }
  })
})
