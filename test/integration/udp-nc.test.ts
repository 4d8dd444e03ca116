// UDP forwards and netcat mode on loopback: real broker, daemons and p2pctl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, type Server } from 'node:net'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { Procs, bin } from '../helpers/procs.js'
import { waitFor } from '../helpers/wait-for.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function udpBind(port = 0): Promise<UdpSocket> {
  return new Promise((resolve) => {
    const s = createSocket('udp4')
    s.bind(port, '127.0.0.1', () => resolve(s))
  })
}

async function freeUdpPort(): Promise<number> {
  const s = await udpBind()
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Run p2pctl with stdin from a buffer; collect stdout as bytes. */
function ctlPipe(socket: string, args: string[], input: Buffer): Promise<{ code: number | null; out: Buffer; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin('ctl'), '--api', socket, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    c.stdout.on('data', (d: Buffer) => out.push(d))
    c.stderr.on('data', (d: Buffer) => (err += d.toString()))
    c.on('exit', (code) => resolve({ code, out: Buffer.concat(out), err }))
    c.stdin.end(input)
  })
}

describe('UDP forwards and nc (loopback)', () => {
  const procs = new Procs()
  const closers: (() => void)[] = []
  let A: string
  let B: string
  let echoPort: number
  let tcpPort: number

  beforeAll(async () => {
    const dir = await procs.tempDir()
    A = join(dir, 'a.sock')
    B = join(dir, 'b.sock')
    // A UDP echo that tags each reply with the sender's port, so flows can be told apart.
    const echo = await udpBind()
    echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from(`${r.port}:`), m]), r.port, r.address))
    echoPort = echo.address().port
    closers.push(() => echo.close())
    // A TCP service for nc: answers "<bytes> <sha256>" for what it got, or streams bytes on "D<n>\n".
    const srv: Server = createServer({ allowHalfOpen: true }, (s) => {
      const chunks: Buffer[] = []
      s.on('data', (d: Buffer) => chunks.push(d))
      s.on('end', () => {
        const all = Buffer.concat(chunks)
        s.end(`${all.length} ${sha(all)}`)
      })
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
    tcpPort = (srv.address() as { port: number }).port
    closers.push(() => srv.close())
    const { port } = await procs.broker()
    await procs.daemon({ name: 'alice', brokerPort: port, stateDir: join(dir, 'alice'), socket: A })
    await procs.daemon({ name: 'bob', brokerPort: port, stateDir: join(dir, 'bob'), socket: B })
    await waitFor(async () => JSON.parse((await procs.ctl(A, ['status', '--json'])).stdout).brokers[0].state === 'registered', { timeoutMs: 10_000, what: 'alice registered' })
    await waitFor(async () => JSON.parse((await procs.ctl(B, ['status', '--json'])).stdout).brokers[0].state === 'registered', { timeoutMs: 10_000, what: 'bob registered' })
    for (const args of [['expose', String(echoPort), '--peer', 'alice', '--udp'], ['expose', String(tcpPort), '--peer', 'alice']]) {
      const r = await procs.ctl(B, args)
      expect(r.code, r.stderr).toBe(0)
    }
  })

  afterAll(async () => {
    for (const c of closers) c()
    await procs.teardown()
  })

  it('keeps many concurrent flows separate, each getting only its own replies', async () => {
    const local = await freeUdpPort()
    const f = await procs.ctl(A, ['forward', String(local), '--udp', '--peer', 'bob', '--to', String(echoPort)])
    expect(f.code, f.stderr).toBe(0)
    const clients = await Promise.all(Array.from({ length: 20 }, () => udpBind()))
    const got = clients.map(() => [] as string[])
    clients.forEach((c, i) => c.on('message', (m) => got[i]!.push(m.toString())))
    for (let round = 0; round < 5; round++) clients.forEach((c, i) => c.send(`c${i}-r${round}`, local, '127.0.0.1'))
    await waitFor(() => got.every((g) => g.length === 5), { timeoutMs: 10_000, what: 'every flow got its 5 replies' })
    clients.forEach((c, i) => {
      // Each reply names exactly one bob-side source port per flow, and carries this client's text.
      expect(new Set(got[i]!.map((m) => m.split(':')[0])).size).toBe(1)
      expect(got[i]!.map((m) => m.split(':')[1]).sort()).toEqual([0, 1, 2, 3, 4].map((r) => `c${i}-r${r}`))
    })
    const bobPorts = new Set(got.map((g) => g[0]!.split(':')[0]))
    expect(bobPorts.size).toBe(20)
    const fw = (JSON.parse((await procs.ctl(A, ['forwards', '--json'])).stdout) as { bind: string; connections: number; udp: { flows: unknown[]; datagramsOut: number; datagramsIn: number } }[]).find((x) => x.bind === `127.0.0.1:${local}`)!
    expect(fw.udp.flows).toHaveLength(20)
    expect(fw.udp.datagramsOut).toBe(100)
    expect(fw.udp.datagramsIn).toBe(100)
    for (const c of clients) c.close()
  })

  it('keeps datagram boundaries, drops and counts oversize datagrams, and caps flows', async () => {
    const local = await freeUdpPort()
    const f = await procs.ctl(A, ['forward', String(local), '--udp', '--peer', 'bob', '--to', String(echoPort), '--max-flows', '2'])
    expect(f.code, f.stderr).toBe(0)
    const [c1, c2, c3] = await Promise.all([udpBind(), udpBind(), udpBind()])
    const got: Buffer[] = []
    c1!.on('message', (m) => got.push(m))
    const sizes = [1, 100, 1000]
    for (const n of sizes) c1!.send(Buffer.alloc(n, 0x61), local, '127.0.0.1')
    c1!.send(Buffer.alloc(4000, 0x62), local, '127.0.0.1')
    await waitFor(() => got.length === 3, { timeoutMs: 10_000, what: 'three echoes' })
    const prefix = `${got[0]!.toString().split(':')[0]}:`.length
    expect(got.map((m) => m.length - prefix).sort((a, b) => a - b)).toEqual(sizes)
    c2!.send('x', local, '127.0.0.1')
    c3!.send('y', local, '127.0.0.1')
    const info = async (): Promise<{ udp: { drops: Record<string, number>; flows: unknown[] } }> =>
      (JSON.parse((await procs.ctl(A, ['forwards', '--json'])).stdout) as { bind: string; udp: { drops: Record<string, number>; flows: unknown[] } }[]).find((x) => x.bind === `127.0.0.1:${local}`)!
    const fw = await waitFor(async () => {
      const x = await info()
      return x.udp.drops.flowLimit === 1 && x.udp.drops.oversize === 1 ? x : null
    }, { timeoutMs: 5000, what: 'oversize and flow-limit drops counted' })
    expect(fw.udp.flows).toHaveLength(2)
    for (const c of [c1, c2, c3]) c!.close()
  })

  it('nc moves 16 MiB up and tells refusal from success by exit status', async () => {
    const data = randomBytes(16 * 1024 * 1024)
    const ok = await ctlPipe(A, ['nc', 'bob', String(tcpPort)], data)
    expect(ok.code, ok.err).toBe(0)
    expect(ok.out.toString()).toBe(`${data.length} ${sha(data)}`)
    const refused = await ctlPipe(A, ['nc', 'bob', String(tcpPort + 1)], Buffer.from('x'))
    expect(refused.code).toBe(1)
    expect(refused.err).toContain(`on bob run: p2pctl expose ${tcpPort + 1} --peer alice`)
  })

  it('nc --udp sends a datagram and prints the reply', async () => {
    const r = await ctlPipe(A, ['nc', 'bob', String(echoPort), '--udp', '--wait', '0.5'], Buffer.from('hello'))
    expect(r.code, r.err).toBe(0)
    expect(r.out.toString()).toMatch(/^\d+:hello$/)
  })
})
