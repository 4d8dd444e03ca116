// The small HTTP service the demo runs "on bob's side": a hello text, a deterministic byte
// stream with its sha256 up front, and an echo. It lives in the demo process itself.
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** Largest body GET /bytes will produce (1 GiB). */
export const MAX_BYTES = 1 << 30

const CHUNK = 64 * 1024

/** Yield n pseudo-random bytes in 64 KiB chunks: the same n always gives the same bytes (xorshift32, fixed seed). */
export function* pseudoRandomChunks(n: number, seed = 0x9e3779b9): Generator<Buffer> {
  let x = seed >>> 0 || 1
  for (let left = n; left > 0; left -= CHUNK) {
    const len = Math.min(CHUNK, left)
    const words = new Uint32Array(Math.ceil(len / 4))
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13
      x >>>= 0
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      words[i] = x
    }
    yield Buffer.from(words.buffer, 0, len)
  }
}

/** The hex sha256 of pseudoRandomChunks(n). */
export function pseudoRandomSha256(n: number): string {
  const h = createHash('sha256')
  for (const chunk of pseudoRandomChunks(n)) h.update(chunk)
  return h.digest('hex')
}

/** A running demo service: its port and how to stop it. */
export interface DemoService {
  /** The TCP port it listens on, on 127.0.0.1. */
  port: number
  /** Stop listening and drop open connections. */
  close: () => Promise<void>
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://demo.invalid')
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('hello from bob, through a p2pd tunnel\n')
    return
  }
  if (req.method === 'GET' && url.pathname === '/bytes') {
    const n = Number(url.searchParams.get('n') ?? '0')
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_BYTES) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`n must be an integer in 0..${MAX_BYTES}\n`)
      return
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(n),
      'x-sha256': pseudoRandomSha256(n),
    })
    const chunks = pseudoRandomChunks(n)
    const pump = (): void => {
      for (;;) {
        const next = chunks.next()
        if (next.done) {
          res.end()
          return
        }
        if (!res.write(next.value)) {
          res.once('drain', pump)
          return
        }
      }
    }
    res.on('close', () => chunks.return(undefined))
    pump()
    return
  }
  if (req.method === 'POST' && url.pathname === '/echo') {
    const headers: http.OutgoingHttpHeaders = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' }
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length']
    res.writeHead(200, headers)
    req.pipe(res)
    return
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /, GET /bytes?n=N or POST /echo\n')
}

/** Start the demo service on 127.0.0.1 at a free port. */
export async function startDemoService(): Promise<DemoService> {
  const server = http.createServer(handle)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const close = async (): Promise<void> => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return { port, close }
}
