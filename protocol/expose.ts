// Access rules: which authenticated peer may reach which local host:port. Pure: no I/O.
// Default deny. A rule names one peer by its hex key, or '*' for any authenticated peer.

/** One access rule ("expose"): `peer` may reach `host:port` over `proto` on this machine. */
export interface ExposeRule {
  id: string
  proto: 'tcp' | 'udp'
  host: string
  port: number
  /** Lowercase hex public key of the peer, or '*' for any authenticated peer. */
  peer: string
}

/** What a peer asked to reach, and who it is (hex key, as authenticated by the session). */
export interface AccessRequest {
  proto: 'tcp' | 'udp'
  host: string
  port: number
  peerKey: string
}

/** A host and port, as parsed from "[HOST:]PORT". */
export interface Target {
  host: string
  port: number
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '0:0:0:0:0:0:0:1'])

/** Canonical form of a host for comparison: lowercase, no IPv6 brackets, loopback names folded to "localhost". */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  return LOOPBACK.has(h) ? 'localhost' : h
}

/** True for localhost, 127.0.0.1 and ::1 (in any case, with or without brackets). */
export function isLoopbackHost(host: string): boolean {
  return normalizeHost(host) === 'localhost'
}

/**
 * The rule that lets `req.peerKey` reach `req.host:req.port`, or null (default deny).
 * A rule for that exact peer wins over a '*' rule, so the answer names the most specific grant.
 */
export function findExposeRule(rules: readonly ExposeRule[], req: AccessRequest): ExposeRule | null {
  const host = normalizeHost(req.host)
  const key = req.peerKey.toLowerCase()
  if (!isPort(req.port) || key === '' || key === '*') return null
  let wildcard: ExposeRule | null = null
  for (const r of rules) {
    if (r.proto !== req.proto || r.port !== req.port || normalizeHost(r.host) !== host) continue
    if (r.peer.toLowerCase() === key) return r
    if (r.peer === '*' && wildcard === null) wildcard = r
  }
  return wildcard
}

/**
 * The command that would allow the refused request, to run on the target machine, e.g.
 * `on bob run: p2pctl expose 8080 --peer alice` (with host when not loopback, ` --udp` for UDP).
 */
export function notExposedHint(selfName: string, requesterName: string, proto: 'tcp' | 'udp', host: string, port: number): string {
  const target = isLoopbackHost(host) ? String(port) : formatTarget(host, port)
  const udp = proto === 'udp' ? ' --udp' : ''
  return `on ${shellWord(selfName)} run: p2pctl expose ${shellWord(target)} --peer ${shellWord(requesterName)}${udp}`
}

/** "host:port", bracketing IPv6 literals ("[::1]:22"). */
export function formatTarget(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * Parse "[HOST:]PORT" ("8080", "10.0.0.5:8080", "db.lan:5432", "[::1]:22"); a missing host is
 * `defaultHost`. Null when malformed: port not 1-65535 in plain digits, empty host, or a bare
 * IPv6 literal without brackets (ambiguous with the port).
 */
export function parseTarget(text: string, defaultHost: string): Target | null {
  const s = text.trim()
  let host: string
  let portText: string
  if (s.startsWith('[')) {
    const close = s.indexOf(']')
    if (close < 0 || s[close + 1] !== ':') return null
    host = s.slice(1, close)
    portText = s.slice(close + 2)
    if (!host.includes(':')) return null
  } else {
    const colon = s.lastIndexOf(':')
    if (colon < 0) return parsePortTarget(defaultHost, s)
    host = s.slice(0, colon)
    portText = s.slice(colon + 1)
    if (host.includes(':')) return null
  }
  if (host === '' || /\s/.test(host)) return null
  return parsePortTarget(host, portText)
}

/** Parse a port number given as plain decimal digits; null unless 1-65535. */
export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null
  const n = Number(text)
  return isPort(n) ? n : null
}

function parsePortTarget(host: string, portText: string): Target | null {
  const port = parsePort(portText)
  return port === null ? null : { host, port }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535
}

/** Quote a word for a POSIX shell when it holds anything beyond a safe set of characters. */
function shellWord(s: string): string {
  if (/^[A-Za-z0-9._:@%+=/-]+$/.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}
