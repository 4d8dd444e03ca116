// Loopback end to end: a real broker and two real daemons, driven through the real p2pctl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { parseHostPort } from '../../common/lifecycle.js'
import { Procs, bin, type Proc } from '../helpers/procs.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** Listen on an ephemeral loopback port. */
function serve(handler: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(handler)
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }))
  })
}

/** A free port (listen, read, close). */
async function freePort(): Promise<number> {
  const { server, port } = await serve(() => {})
  await new Promise((r) => server.close(r))
  return port
}

/** Connect, send `data`, half-close, and collect everything until the server closes. */
function exchange(port: number, data: Buffer | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const s = connect(port, '127.0.0.1', () => {
      if (data) s.write(data)
      s.end()
    })
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', reject)
    s.on('close', () => resolve(Buffer.concat(chunks)))
  })
}

describe('loopback: broker + alice + bob through p2pctl', () => {
  const procs = new Procs()
  const servers: Server[] = []
  let dir: string
  let A: string
  let B: string
  let brokerPort: number
  let bobKey: string
  const download = randomBytes(64 * MiB)
  const ports = { sink: 0, source: 0, echo: 0, dead: 0 }
  let watcher: Proc
  const events = (): { type: string; [k: string]: unknown }[] =>
    watcher.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string })

  beforeAll(async () => {
    dir = await procs.tempDir()
    A = join(dir, 'a.sock')
    B = join(dir, 'b.sock')
    // Services on bob's side.
    const sink = await serve((s) => {
      const h = createHash('sha256')
      let n = 0
      s.on('data', (d: Buffer) => {
        h.update(d)
        n += d.length
      })
      // The client half-closed: it still reads this reply.
      s.on('end', () => s.end(`${n} ${h.digest('hex')}`))
    })
    const source = await serve((s) => {
      s.on('error', () => {})
      s.end(download)
    })
    const echo = await serve((s) => s.pipe(s))
    servers.push(sink.server, source.server, echo.server)
    ports.sink = sink.port
    ports.source = source.port
    ports.echo = echo.port
    ports.dead = await freePort()

    const broker = await procs.broker()
    brokerPort = broker.port
    await procs.daemon({ name: 'alice', brokerPort, stateDir: join(dir, 'alice'), socket: A })
    bobKey = (await procs.daemon({ name: 'bob', brokerPort, stateDir: join(dir, 'bob'), socket: B })).key
    await waitFor(async () => JSON.parse((await procs.ctl(A, ['status', '--json'])).stdout).brokers[0].state === 'registered', { timeoutMs: 10_000, what: 'alice registered' })
    await waitFor(async () => JSON.parse((await procs.ctl(B, ['status', '--json'])).stdout).brokers[0].state === 'registered', { timeoutMs: 10_000, what: 'bob registered' })
    // Everything alice's daemon reports, as `p2pctl watch --json` shows it.
    watcher = procs.spawn(bin('ctl'), ['--api', A, 'watch', '--json'])
    // Subscribed once an event we cause shows up (an expose rule added and removed again).
    await waitFor(async () => {
      const r = await procs.ctl(A, ['expose', '1', '--any', '--json'])
      await procs.ctl(A, ['unexpose', JSON.parse(r.stdout).id])
      return events().some((e) => e.type === 'expose')
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'watch subscribed' })
  })

  afterAll(async () => {
    for (const s of servers) s.close()
    await procs.teardown()
  })

  it('connects by name through the broker and shows a direct path', async () => {
    const r = await procs.ctl(A, ['connect', 'bob'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('bob')
    const peers = JSON.parse((await procs.ctl(A, ['peers', '--json'])).stdout) as { name: string; key: string; state: string; path: { kind: string; proto: string; local: string } | null }[]
    const bob = peers.find((p) => p.name === 'bob')
    expect(bob).toMatchObject({ key: bobKey, state: 'connected', path: { kind: 'direct' } })
    // UDP first; on loopback the kernel TCP path is often up by the time connect returns.
    expect(['udp', 'tcp']).toContain(bob?.path?.proto)
    // The local side is the interface address in use (127.0.0.1, or a ULA/LAN address of this
    // machine, which ranks first), not the 0.0.0.0 or :: the endpoint binds.
    const mine = Object.values(networkInterfaces()).flat().map((i) => i!.address)
    await waitFor(async () => {
      const p = (JSON.parse((await procs.ctl(A, ['peers', '--json'])).stdout) as { name: string; path: { local: string } | null }[]).find((x) => x.name === 'bob')
      const local = p?.path?.local ? parseHostPort(p.path.local, 'local').host : ''
      return mine.includes(local)
    }, { what: 'path.local to name an address of this machine' })
    const pathEvent = await waitFor(() => events().find((e) => e.type === 'path' && e.peer === 'bob'), { what: 'a path event for bob on watch' })
    expect(pathEvent).toMatchObject({ path: { kind: 'direct', proto: 'udp' }, reason: 'new session' })
    expect(events().some((e) => e.type === 'punch' && e.stage === 'connected')).toBe(true)
    const ping = await procs.ctl(A, ['ping', 'bob', '--json'])
    expect(ping.code, ping.stderr).toBe(0)
    expect(JSON.parse(ping.stdout).rttMs).toBeGreaterThan(0)
  })

  it('refuses a forward to a target bob has not exposed, naming the command to run on bob', async () => {
    const r = await procs.ctl(A, ['forward', String(await freePort()), '--peer', 'bob', '--to', String(ports.sink)])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`does not expose localhost:${ports.sink} to alice`)
    expect(r.stderr).toContain(`on bob run: p2pctl expose ${ports.sink} --peer alice`)
  })

  it('moves 64 MiB each way, sha256-equal, with half-close', async () => {
    for (const p of [ports.sink, ports.source, ports.echo, ports.dead]) {
      const r = await procs.ctl(B, ['expose', String(p), '--peer', 'alice'])
      expect(r.code, r.stderr).toBe(0)
    }
    const fSink = await freePort()
    const fSource = await freePort()
    for (const [local, remote] of [[fSink, ports.sink], [fSource, ports.source]]) {
      const r = await procs.ctl(A, ['forward', String(local), '--peer', 'bob', '--to', String(remote)])
      expect(r.code, r.stderr).toBe(0)
    }
    const upload = randomBytes(64 * MiB)
    const reply = (await exchange(fSink, upload)).toString()
    expect(reply).toBe(`${upload.length} ${sha(upload)}`)
    const got = await exchange(fSource, null)
    expect(got.length).toBe(download.length)
    expect(sha(got)).toBe(sha(download))
    const fwds = JSON.parse((await procs.ctl(A, ['forwards', '--json'])).stdout) as { bind: string; bytesIn: number; bytesOut: number }[]
    const sinkFwd = fwds.find((f) => f.bind === `127.0.0.1:${fSink}`)!
    expect(sinkFwd.bytesOut).toBe(upload.length)
  })

  it('carries 100 concurrent connections, each verified', async () => {
    const local = await freePort()
    const r = await procs.ctl(A, ['forward', String(local), '--peer', 'bob', '--to', String(ports.echo)])
    expect(r.code, r.stderr).toBe(0)
    const payloads = Array.from({ length: 100 }, (_, i) => randomBytes(16 * 1024 + i * 97))
    const replies = await Promise.all(payloads.map((p) => exchange(local, p)))
    replies.forEach((got, i) => expect(sha(got), `connection ${i}`).toBe(sha(payloads[i]!)))
  })

  it('closes the client promptly when the target refuses', async () => {
    const local = await freePort()
    const r = await procs.ctl(A, ['forward', String(local), '--peer', 'bob', '--to', String(ports.dead)])
    expect(r.code, r.stderr).toBe(0)
    const started = Date.now()
    const closed = await new Promise<{ bytes: number; error: string | null }>((resolve) => {
      let bytes = 0
      let error: string | null = null
      const s = connect(local, '127.0.0.1')
      s.on('data', (d: Buffer) => (bytes += d.length))
      s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
      s.on('close', () => resolve({ bytes, error }))
    })
    expect(closed.bytes).toBe(0)
    expect(closed.error).toBe('ECONNRESET')
    expect(Date.now() - started).toBeLessThan(5000)
    // watch says why, with the forward's id.
    const err = await waitFor(() => events().find((e) => e.type === 'error' && e.code === 'TARGET_REFUSED'), { what: 'an error event on watch' })
    expect(String(err.message)).toContain(`could not reach localhost:${ports.dead}`)
  })

  it('gives clear errors: unknown peer, port in use, daemon not running', async () => {
    const unknown = await procs.ctl(A, ['connect', 'carol'])
    expect(unknown.code).toBe(1)
    const errLines = unknown.stderr.split('\n').filter((l) => l.startsWith('p2pctl:'))
    expect(errLines).toHaveLength(1)
    expect(errLines[0]).toMatch(/unknown peer carol/)

    const held = await serve(() => {})
    servers.push(held.server)
    const inUse = await procs.ctl(A, ['forward', String(held.port), '--peer', 'bob', '--to', String(ports.echo)])
    expect(inUse.code).toBe(1)
    expect(inUse.stderr).toContain(`127.0.0.1:${held.port} is already in use`)

    const down = await procs.ctl(join(dir, 'nobody.sock'), ['status'])
    expect(down.code).toBe(3)
    expect(down.stderr).toMatch(/p2pd is not running/)
  })
})
