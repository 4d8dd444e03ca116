// Optional health and counters endpoint: a few read-only JSON routes, so plain node:http.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../common/logger.js'
import type { HostPort } from './broker.js'

/** What the HTTP endpoint serves. */
export interface HttpSources {
  health(): object
  stats(): object
}

/** A running HTTP endpoint. */
export interface HttpEndpoint {
  address: HostPort
  close(): Promise<void>
}

/** Serve GET /health, /stats and /v1/stats on host:port. */
export async function startHttp(addr: HostPort, sources: HttpSources, log: Logger): Promise<HttpEndpoint> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const route = path === '/health' ? sources.health : path === '/stats' || path === '/v1/stats' ? sources.stats : null
    if (route === null) return json(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${path}`, hint: 'try /health or /stats' } })
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: { code: 'BAD_REQUEST', message: `${req.method} not allowed`, hint: 'use GET' } })
    try {
      json(res, 200, route.call(sources))
    } catch (err) {
      log.error({ err, path }, 'http handler failed')
      json(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } })
    }
  })
  // Health checks are tiny: do not let an idle client hold a socket open for long.
  server.keepAliveTimeout = 5000
  server.requestTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => log.error({ err }, 'http server error'))
  const a = server.address() as AddressInfo
  return {
    address: { host: a.address, port: a.port },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}
