// Protection for the optional loopback TCP listener, which any local process and any web page
// in a local browser can reach, unlike the 0660 Unix socket: a bearer token, a loopback Host
// header (defeats DNS rebinding) and no cross-origin browser requests.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isLoopbackHost } from './listen.js'

/** Options of the TCP guard. */
export interface TcpGuardOptions {
  /** The bearer token clients must send (read by the daemon from a 0600 file). */
  token: string
}

/** Host of a Host header or Origin URL, without port and IPv6 brackets; null if malformed. */
function hostOf(value: string): string | null {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(\[[0-9a-f:.]+\]|[^:/[\]]+)(?::\d+)?\/?$/i.exec(value)
  return m?.[1] ?? null
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '')
  if (!m?.[1]) return false
  const given = Buffer.from(m[1])
  const want = Buffer.from(token)
  // Compare in constant time; the length check leaks only the length, which is not secret.
  return given.length === want.length && timingSafeEqual(given, want)
}

// These codes are not (yet) in common/errors.ts's ErrorCode; the body shape is the usual one.
function refuse(reply: FastifyReply, status: 401 | 403, message: string, hint: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message, hint } })
}

/** Require token, loopback Host and no foreign Origin on every request (including WebSocket upgrades). */
export function installTcpGuard(app: FastifyInstance, opts: TcpGuardOptions): void {
  if (opts.token.length < 16) throw new Error('API token must be at least 16 characters')
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const host = hostOf(req.headers.host ?? '')
    if (host === null || !isLoopbackHost(host)) {
      return refuse(reply, 403, 'the API answers only requests addressed to a loopback host', 'use http://127.0.0.1:PORT or http://localhost:PORT')
    }
    const origin = req.headers.origin
    if (origin !== undefined) {
      const oh = hostOf(origin)
      if (oh === null || !isLoopbackHost(oh)) return refuse(reply, 403, 'cross-origin browser requests are refused', 'call the API from a script or p2pctl, not a web page')
    }
    if (!tokenMatches(req.headers.authorization, opts.token)) {
      return refuse(reply, 401, 'missing or wrong API token', "send 'Authorization: Bearer TOKEN' with the token from the state directory (p2pctl reads P2PD_API_TOKEN)")
    }
    return undefined
  })
}
