// Attach the control API to its listeners: the Unix socket (the default, guarded by file mode
// and group) and an optional TCP listener that must stay on loopback.
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { connect, isIPv4, isIPv6 } from 'node:net'
import { dirname } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../../common/errors.js'

/** sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL. */
export const MAX_UNIX_PATH_BYTES = 107
/** Socket mode: owner and the p2pd group may connect, nobody else. */
export const SOCKET_MODE = 0o660
/** Mode of a socket directory we create. */
export const SOCKET_DIR_MODE = 0o750

/** How long to wait for an existing socket to accept before calling it stale. */
const PROBE_TIMEOUT_MS = 1000

type Probe = 'live' | 'stale' | 'gone'

// Connect to an existing socket file: something accepting means another daemon owns it;
// ECONNREFUSED means its owner died without removing it.
function probeSocket(path: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path })
    const timer = setTimeout(() => {
      sock.destroy()
      // Accepting nothing within a second is odd, but a listener could be wedged: never
      // delete a socket someone might still be holding.
      resolve('live')
    }, PROBE_TIMEOUT_MS)
    sock.once('connect', () => {
      clearTimeout(timer)
      sock.destroy()
      resolve('live')
    })
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'ECONNREFUSED') resolve('stale')
      else if (err.code === 'ENOENT') resolve('gone')
      else reject(new AppError('CONFIG_INVALID', `cannot check existing API socket ${path}: ${err.message}`, 'remove it by hand if no p2pd is running'))
    })
  })
}

/** Listen on a Unix socket at `path` (mode 0660), replacing a stale socket; returns the path. */
export async function listenUnix(app: FastifyInstance, path: string): Promise<string> {
  const bytes = Buffer.byteLength(path)
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new AppError('CONFIG_INVALID', `API socket path is too long (${bytes} bytes, at most ${MAX_UNIX_PATH_BYTES}): ${path}`, 'choose a shorter --api-socket path')
  }
  const existing = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null
    throw err
  })
  if (existing) {
    if (!existing.isSocket()) {
      throw new AppError('CONFIG_INVALID', `API socket path ${path} exists and is not a socket`, 'remove it or choose another --api-socket path')
    }
    const probe = await probeSocket(path)
    if (probe === 'live') {
      throw new AppError('CONFIG_INVALID', `another p2pd is already listening on ${path}`, 'stop it first, or give this one another --api-socket path')
    }
    if (probe === 'stale') {
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
    }
  }
  // Only a directory we create gets our mode (chmod, so the umask does not decide); an existing
  // one, like systemd's RuntimeDirectory, keeps the mode its owner chose.
  const created = await mkdir(dirname(path), { recursive: true, mode: SOCKET_DIR_MODE })
  if (created !== undefined) await chmod(dirname(path), SOCKET_DIR_MODE)
  // The socket is born 0660 (umask 0117 while it is made), so there is no moment when it is
  // reachable with looser permissions; the chmod after is belt and braces.
  const previous = process.umask(0o117)
  try {
    await app.listen({ path })
  } finally {
    process.umask(previous)
  }
  await chmod(path, SOCKET_MODE)
  return path
}

/** True for 127.0.0.0/8, ::1 (also IPv4-mapped loopback) and the name "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (h.toLowerCase() === 'localhost') return true
  if (isIPv4(h)) return h.startsWith('127.')
  if (isIPv6(h)) {
    const lower = h.toLowerCase()
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
    return mapped?.[1] !== undefined && isIPv4(mapped[1]) && mapped[1].startsWith('127.')
  }
  return false
}

/** Listen on TCP, loopback only (the API has no TLS); returns the listening URL. */
export async function listenTcp(app: FastifyInstance, host: string, port: number): Promise<string> {
  if (!isLoopbackHost(host)) {
    throw new AppError('CONFIG_INVALID', `the API may listen on loopback only, not ${host}`, 'use 127.0.0.1, ::1 or localhost in --api-listen')
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AppError('CONFIG_INVALID', `invalid API port ${port}`, 'use a port from 1 to 65535 in --api-listen')
  }
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  return app.listen({ host: h, port })
}
