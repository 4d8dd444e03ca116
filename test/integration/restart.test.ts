// State survives restarts: forwards and exposes come back; a pinned key that changes is refused.
import { afterAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { Procs } from '../helpers/procs.js'
import { waitFor } from '../helpers/wait-for.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
}

async function freePort(): Promise<number> {
  const s = createServer()
  const port = await listen(s)
  await new Promise((r) => s.close(r))
  return port
}

function echoOnce(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const s = connect(port, '127.0.0.1', () => s.end(data))
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', reject)
    s.on('close', () => resolve(Buffer.concat(chunks)))
  })
}

const registered = (procs: Procs, sock: string) => async (): Promise<boolean> =>
  JSON.parse((await procs.ctl(sock, ['status', '--json'])).stdout).brokers.every((b: { state: string }) => b.state === 'registered')

describe('restarts', () => {
  const procs = new Procs()
  const servers: Server[] = []
  afterAll(async () => {
    for (const s of servers) s.close()
    await procs.teardown()
  })

  it('brings forwards and exposes back after each daemon restarts', async () => {
    const dir = await procs.tempDir()
    const A = join(dir, 'a.sock')
    const B = join(dir, 'b.sock')
    // A daemon that restarts resets the connections it had dialed here: not the test's failure.
    const echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {})
      s.pipe(s)
    })
    servers.push(echo)
    const echoPort = await listen(echo)
    const { port: brokerPort } = await procs.broker()
    const alice = { name: 'alice', brokerPort, stateDir: join(dir, 'alice'), socket: A }
    const bob = { name: 'bob', brokerPort, stateDir: join(dir, 'bob'), socket: B }
    let a = await procs.daemon(alice)
    let b = await procs.daemon(bob)
    await waitFor(registered(procs, A), { timeoutMs: 10_000, what: 'alice registered' })
    await waitFor(registered(procs, B), { timeoutMs: 10_000, what: 'bob registered' })
    expect((await procs.ctl(B, ['expose', String(echoPort), '--peer', 'alice'])).code).toBe(0)
    const local = await freePort()
    const fwd = await procs.ctl(A, ['forward', String(local), '--peer', 'bob', '--to', String(echoPort)])
    expect(fwd.code, fwd.stderr).toBe(0)
    const data = randomBytes(256 * 1024)
    expect(sha(await echoOnce(local, data))).toBe(sha(data))

    // Alice restarts: same key, the forward is listening again and works.
    await procs.stop(a.proc)
    const keyBefore = a.key
    a = await procs.daemon(alice)
    expect(a.key).toBe(keyBefore)
    const forwards = JSON.parse((await procs.ctl(A, ['forwards', '--json'])).stdout) as { bind: string; to: string; peer: string }[]
    expect(forwards).toEqual([expect.objectContaining({ bind: `127.0.0.1:${local}`, to: `localhost:${echoPort}`, peer: 'bob' })])
    await waitFor(registered(procs, A), { timeoutMs: 10_000, what: 'alice registered again' })
    expect(sha(await echoOnce(local, data))).toBe(sha(data))

    // Bob restarts: the expose rule is back, and alice's next connection gets through.
    await procs.stop(b.proc)
    b = await procs.daemon(bob)
    const exposes = JSON.parse((await procs.ctl(B, ['exposes', '--json'])).stdout) as { target: string; peer: string }[]
    expect(exposes).toEqual([expect.objectContaining({ target: `localhost:${echoPort}`, peer: 'alice' })])
    await waitFor(registered(procs, B), { timeoutMs: 10_000, what: 'bob registered again' })
    const again = await waitFor(async () => {
      const got = await echoOnce(local, data)
      return got.length === data.length ? got : null
    }, { timeoutMs: 20_000, intervalMs: 200, what: 'a connection through the forward after bob restarted' })
    expect(sha(again)).toBe(sha(data))
  })

  it('refuses a peer whose key changed, and says what to do', async () => {
    const dir = await procs.tempDir()
    const A = join(dir, 'a.sock')
    const D = join(dir, 'd.sock')
    const brokerAddr = await freePort()
    let broker = (await procs.broker(['--listen', `127.0.0.1:${brokerAddr}`])).proc
    // The broker above also got --listen 127.0.0.1:0 first; use the fixed port for everyone.
    const alice = { name: 'alice', brokerPort: brokerAddr, stateDir: join(dir, 'alice'), socket: A, extra: ['--keepalive', '1'] }
    await procs.daemon(alice)
    const dave1 = await procs.daemon({ name: 'dave', brokerPort: brokerAddr, stateDir: join(dir, 'dave1'), socket: D })
    await waitFor(registered(procs, A), { timeoutMs: 10_000, what: 'alice registered' })
    await waitFor(registered(procs, D), { timeoutMs: 10_000, what: 'dave registered' })
    const first = await procs.ctl(A, ['connect', 'dave'])
    expect(first.code, first.stderr).toBe(0)

    // The broker loses its name bindings and dave comes back with a new key under the old name.
    await procs.stop(dave1.proc)
    await procs.stop(broker)
    broker = (await procs.broker(['--listen', `127.0.0.1:${brokerAddr}`])).proc
    const dave2 = await procs.daemon({ name: 'dave', brokerPort: brokerAddr, stateDir: join(dir, 'dave2'), socket: D })
    expect(dave2.key).not.toBe(dave1.key)
    await waitFor(registered(procs, D), { timeoutMs: 10_000, what: 'new dave registered' })
    await waitFor(registered(procs, A), { timeoutMs: 10_000, what: 'alice registered with the new broker' })
    const r = await waitFor(async () => {
      const x = await procs.ctl(A, ['connect', 'dave'])
      return x.stderr.includes('key has changed') ? x : null
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'the changed-key refusal' })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("dave's key has changed")
    expect(r.stderr).toContain('p2pctl peer remove dave')
  })
})
