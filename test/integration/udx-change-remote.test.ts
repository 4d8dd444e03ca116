// What udx-native's changeRemote does with packets already sent, on real UDX sockets on loopback.
// libudx stamps each packet's destination when it builds the packet, and changeRemote does not
// re-stamp the packets still waiting for an ack: they are retransmitted to the OLD address only.
// On a dead old path the stream can never fill that hole and dies with ETIMEDOUT after its RTO
// budget. This is why the daemon never moves a UDX stream that carries forwarded TCP data: the
// multiplexer resumes on a fresh carrier (test/lab/heal.test.ts, multihomed.test.ts). When the
// canary below fails, libudx re-stamps them, and moving could be cheaper than a new carrier.
import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import UDX, { type UDXSocket, type UDXStream } from 'udx-native'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import { moveRaw } from '../../daemon/stream-move.js'
import { waitFor } from '../helpers/wait-for.js'

const LO = '127.0.0.1'
const open: { sockets: UDXSocket[]; streams: UDXStream[] } = { sockets: [], streams: [] }

afterEach(async () => {
  for (const s of open.streams) s.destroy()
  await Promise.all(open.sockets.map((s) => s.close().catch(() => {})))
  open.sockets = []
  open.streams = []
})

// A socket on its own UDX instance (stream ids are per instance), bound to 0.0.0.0 so that any
// 127.x address reaches it, and a stream on that instance.
function endpoint(id: number): { socket: UDXSocket; stream: UDXStream } {
  const udx = new UDX()
  const socket = udx.createSocket()
  socket.on('error', () => {})
  socket.bind(0, '0.0.0.0')
  const stream = udx.createStream(id)
  stream.on('error', () => {})
  open.sockets.push(socket)
  open.streams.push(stream)
  return { socket, stream }
}

describe('udx-native changeRemote', () => {
  it('retransmits packets sent before the change to the old address only (libudx; the daemon cannot re-stamp them)', async () => {
    const a = endpoint(1)
    const b = endpoint(2)
    const dead = endpoint(3)
    let toDead = 0
    dead.socket.on('message', () => toDead++)
    // The sender's path starts at an address that stops answering (a peer that moved away).
    a.stream.connect(a.socket, 2, dead.socket.address().port, LO)
    b.stream.connect(b.socket, 1, a.socket.address().port, LO)
    let got = 0
    b.stream.on('data', (d: Buffer) => (got += d.length))
    a.stream.write(randomBytes(64 * 1024))
    await waitFor(() => toDead > 0, { what: 'the first packets at the old address' })
    void a.stream.changeRemote(a.socket, 2, b.socket.address().port, LO).catch(() => {})
    const before = toDead
    // The retransmission timer fires after ~1 s: its packets still go to the old address.
    await waitFor(() => toDead > before, { timeoutMs: 5_000, what: 'a retransmission after the change' })
    expect(got).toBe(0)
  })

  // A sender and a receiver on loopback, and moveRaw's view of the sender.
  function pair(): { a: ReturnType<typeof endpoint>; b: ReturnType<typeof endpoint>; received: () => { bytes: number; sha: string }; move: (host: string) => void } {
    const a = endpoint(1)
    const b = endpoint(2)
    a.stream.connect(a.socket, 2, b.socket.address().port, LO)
    b.stream.connect(b.socket, 1, a.socket.address().port, LO)
    const h = createHash('sha256')
    let bytes = 0
    b.stream.on('data', (d: Buffer) => {
      h.update(d)
      bytes += d.length
    })
    const secret = { rawStream: a.stream } as unknown as NoiseSecretStream
    return { a, b, received: () => ({ bytes, sha: h.copy().digest('hex') }), move: (host) => moveRaw(secret, a.socket, { host, port: b.socket.address().port }) }
  }
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

  it('moveRaw moves an idle stream (udx-native returns null, not a promise, when nothing is in flight)', async () => {
    const p = pair()
    const first = randomBytes(64 * 1024)
    p.a.stream.write(first)
    await waitFor(() => p.received().bytes === first.length, { what: 'the first bytes' })
    await waitFor(() => p.a.stream.bytesTransmitted > 0 && p.a.stream.inflight === 0, { what: 'nothing in flight' })
    expect(() => p.move('127.0.0.2')).not.toThrow()
    expect(p.a.stream.remoteHost).toBe('127.0.0.2')
    const second = randomBytes(64 * 1024)
    p.a.stream.write(second)
    await waitFor(() => p.received().bytes === first.length + second.length, { what: 'the bytes after the move' })
    expect(p.received().sha).toBe(sha(Buffer.concat([first, second])))
  })

  it('moveRaw on a stream whose earlier move still waits for acks neither throws nor drops the newer target', async () => {
    const p = pair()
    const sent = randomBytes(64 * 1024 * 1024)
    p.a.stream.write(sent)
    // Mid-transfer there is data in flight: the first move waits for its acks, the second comes
    // while it waits (a path that changed twice). Same peer socket under other loopback addresses.
    await waitFor(() => p.received().bytes > 0, { intervalMs: 1, what: 'the transfer under way' })
    p.move('127.0.0.2')
    expect(() => p.move('127.0.0.3')).not.toThrow()
    await waitFor(() => p.a.stream.remoteHost === '127.0.0.3', { timeoutMs: 20_000, what: 'the stream at the newest address' })
    await waitFor(() => p.received().bytes === sent.length, { timeoutMs: 60_000, intervalMs: 50, what: 'all bytes' })
    expect(p.received().sha).toBe(sha(sent))
  })
})
