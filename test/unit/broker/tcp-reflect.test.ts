// TCP reflection on real loopback sockets: a port another program holds on TCP is skipped (the
// broker still starts and serves UDP there), and the other listeners answer with the address a
// connection came from.
import { createServer, connect, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { TcpReflector } from '../../../broker/tcp-reflect.js'
import { RateLimiter } from '../../../protocol/rate-limit.js'
import { decodeTcpObserved } from '../../../protocol/tcp-reflect.js'
import { createLogger } from '../../../common/logger.js'

const logger = createLogger({ name: 'test', level: 'silent' })
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }))
  })
}

describe('TcpReflector', () => {
  it('skips an address whose TCP port is taken and answers on the others', async () => {
    const taken = await listen()
    closers.push(() => new Promise((r) => taken.server.close(() => r())))
    const drops: string[] = []
    const reflector = new TcpReflector({ limiter: new RateLimiter({ ratePerS: 10, burst: 10, maxKeys: 10 }), now: () => Date.now(), logger, onDrop: (d) => void drops.push(d) })
    closers.push(() => reflector.close())
    const bound = await reflector.start([{ host: '127.0.0.1', port: taken.port }, { host: '127.0.0.1', port: 0 }])
    expect(bound).toHaveLength(1)
    expect(bound[0]!.port).not.toBe(taken.port)
    expect(reflector.addresses()).toEqual(bound)
    const frame = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = []
      const s = connect(bound[0]!.port, '127.0.0.1')
      s.on('data', (d: Buffer) => chunks.push(d))
      s.on('error', reject)
      s.on('close', () => resolve(Buffer.concat(chunks)))
      s.on('connect', () => closers.push(async () => void s.destroy()))
    })
    expect(decodeTcpObserved(frame)).toMatchObject({ host: '127.0.0.1', family: 4 })
    expect(drops).toEqual([])
  })
})
