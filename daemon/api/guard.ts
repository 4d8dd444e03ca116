// Request guards of the control API, run on every request of both listeners (WebSocket upgrades
// included, since they pass through the same onRequest hook):
// - Host must be a loopback name (or, on the Unix socket, the socket's own name): defeats DNS
//   rebinding, where a web page's own host name is pointed at 127.0.0.1.
// - Any Origin or Referer header means a browser sent it on behalf of some page: refused. p2pctl
//   and scripts send neither.
// - On the loopback TCP listener, which any local process can reach (unlike the 0660 socket): a
//   bearer token, compared in constant time.
import { timingSafeEqual } from 'node:crypto'
import { basename } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isLoopbackHost } from './listen.js'

/** Options of the TCP guard. */
export interface TcpGuardOptions {
  /** The bearer token clients must send (read by the daemon from a 0600 file). */
  token: string
}

/** Options of the guard every listener gets. */
export interface GuardOptions {
  /** Set on the TCP listener: require this bearer token. */
  tcp?: TcpGuardOptions
  /** The Unix socket's path: also accepted as Host (as is its basename), as some clients send it. */
  socketPath?: string
}

/** Host of a Host header, without port and IPv6 brackets; null if malformed. */
function hostOf(value: string): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:/[\]\s]+)(?::\d+)?$/i.exec(value)
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

function refuse(reply: FastifyReply, status: 401 | 403, message: string, hint: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message, hint } })
}

/** Names a request on the Unix socket may carry as Host besides loopback names. */
function socketNames(path: string | undefined): Set<string> {
  if (!path) return new Set()
  return new Set([path, encodeURIComponent(path), basename(path)].map((s) => s.toLowerCase()))
}

/** Refuse foreign Host, any Origin/Referer and (on TCP) a missing or wrong token, on every request. */
export function installGuard(app: FastifyInstance, opts: GuardOptions = {}): void {
  if (opts.tcp && opts.tcp.token.length < 16) throw new Error('API token must be at least 16 characters')
  const own = socketNames(opts.tcp ? undefined : opts.socketPath)
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = req.headers.host ?? ''
    const host = hostOf(raw)
    if (!(host !== null && isLoopbackHost(host)) && !own.has(raw.toLowerCase())) {
      return refuse(reply, 403, 'the API answers only requests addressed to a loopback host', 'use http://127.0.0.1:PORT or http://localhost:PORT, or the Unix socket (p2pctl does)')
    }
    if (req.headers.origin !== undefined || req.headers.referer !== undefined) {
      return refuse(reply, 403, 'browser requests (with Origin or Referer) are refused', 'call the API from a script or p2pctl, not a web page')
    }
    if (opts.tcp && !tokenMatches(req.headers.authorization, opts.tcp.token)) {
      return refuse(reply, 401, 'missing or wrong API token', "send 'Authorization: Bearer TOKEN' with the token from the state directory (p2pctl reads P2PD_API_TOKEN)")
    }
    return undefined
  })
}
