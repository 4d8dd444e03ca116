// Graceful shutdown on SIGINT/SIGTERM, once; a second signal exits at once.
import type ipaddrT from 'ipaddr.js'
import type { Logger } from './logger.js'
import { requireCjs } from '../protocol/cjs.js'

const ipaddr = requireCjs('ipaddr.js') as typeof ipaddrT

/** Run `stop` on the first SIGINT/SIGTERM, then exit; exit 1 if it fails or takes over `graceMs`. */
export function onShutdown(log: Logger, stop: () => Promise<void>, graceMs = 5000): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      log.error('shutdown took too long; exiting')
      process.exit(1)
    }, graceMs)
    timer.unref()
    stop().then(
      () => {
        log.flush()
        process.exit(0)
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        log.flush()
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

/** Parse "host:port" (IPv6 in brackets). Throws with a message naming `what`. */
export function parseHostPort(s: string, what: string, defaultPort?: number): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(s.trim())
  if (!m) throw new Error(`${what}: "${s}" is not HOST:PORT`)
  const host = (m[1] ?? m[2])!
  const port = m[3] !== undefined ? Number(m[3]) : defaultPort
  if (port === undefined) throw new Error(`${what}: "${s}" has no port (expected HOST:PORT)`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${what}: port ${port} is out of range 0-65535`)
  return { host, port }
}

/** Format host:port, bracketing IPv6. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** One spelling per address, so addresses compare equal: IPv4-mapped IPv6 as plain IPv4, other
 * IPv6 in RFC 5952 form (lowercase, zeros compressed), as the kernel reports senders. */
export function normalizeHost(host: string): string {
  if (!host.includes(':')) return host
  try {
    return ipaddr.process(host).toString()
  } catch {
    return host
  }
}

/** Address family of a host literal (4 unless it contains ':'). */
export function familyOf(host: string): 4 | 6 {
  return host.includes(':') ? 6 : 4
}
