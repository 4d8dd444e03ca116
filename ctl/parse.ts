// Strict parsing of the CLI's address arguments: PORT, [BIND:]PORT, [HOST:]PORT, counts.
// A typo must be a clear usage error here, not a confusing API error later.
import { isIPv4, isIPv6 } from 'node:net'
import { UsageError } from './errors.js'

/** A host (IPv6 without brackets, or undefined when not given) and a port. */
export interface HostPort {
  host?: string
  port: number
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Parse a port number, 1-65535, digits only. `what` names the argument in errors. */
export function parsePort(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new UsageError(`invalid ${what} "${text}": a port is a number from 1 to 65535`)
  const port = Number(text)
  if (port < 1 || port > 65535) throw new UsageError(`invalid ${what} "${text}": a port is a number from 1 to 65535`)
  return port
}

function checkHost(host: string, spec: string, what: string): string {
  if (host === '') throw new UsageError(`invalid ${what} "${spec}": missing host before ':'`)
  if (isIPv4(host) || HOSTNAME.test(host)) return host
  throw new UsageError(`invalid ${what} "${spec}": "${host}" is not a host name or IP address`)
}

/** Parse PORT, HOST:PORT or [IPV6]:PORT. */
export function parseHostPort(text: string, what: string): HostPort {
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(text)
    if (!m?.[1] || m[2] === undefined) throw new UsageError(`invalid ${what} "${text}": expected [IPV6]:PORT, e.g. [::1]:8080`)
    if (!isIPv6(m[1])) throw new UsageError(`invalid ${what} "${text}": "${m[1]}" is not an IPv6 address`)
    return { host: m[1], port: parsePort(m[2], `port in ${what}`) }
  }
  const colons = text.split(':').length - 1
  if (colons === 0) return { port: parsePort(text, what) }
  if (colons > 1) throw new UsageError(`invalid ${what} "${text}": put IPv6 addresses in brackets, e.g. [::1]:8080`)
  const [host = '', port = ''] = text.split(':')
  return { host: checkHost(host, text, what), port: parsePort(port, `port in ${what}`) }
}

/** Parse a positive integer count (e.g. ping --count). */
export function parseCount(text: string, what: string, max = 1_000_000): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`invalid ${what} "${text}": expected a whole number from 1 to ${max}`)
  return Number(text)
}

/** Parse a non-negative duration in seconds (decimals allowed), returned in ms. */
export function parseSeconds(text: string, what: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || Number(text) > 3600) throw new UsageError(`invalid ${what} "${text}": expected seconds from 0 to 3600`)
  return Math.round(Number(text) * 1000)
}

/** Format host:port for display, bracketing IPv6. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
