// Human output: aligned tables and one-line renderings of paths and events. Scripts use --json;
// nothing here is a stable format.
import type { DaemonEvent, ExposeInfo, ForwardInfo, InterfaceInfo, PathInfo, PeerInfo } from './api-types.js'

/** Render rows under headers, columns padded to the widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

/** "1.5 ms", or "-" before the first measurement. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-'
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`
}

/** Byte counts as 1.2 KiB / 3.4 MiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`
}

/** The first 16 hex digits of a key, enough to tell keys apart at a glance. */
export function shortKey(key: string): string {
  return key.length > 16 ? `${key.slice(0, 16)}…` : key
}

/** "direct udp 10.0.0.2:4000 -> 203.0.113.7:5000 (+2 standby, 1 alive)", or "relay udp … (both sides endpoint-dependent)". */
export function path(p: PathInfo | null): string {
  if (!p) return '-'
  const alive = p.standbyPaths?.filter((x) => x.alive).length
  const standby = p.standbys?.length ? ` (+${p.standbys.length} standby${alive !== undefined ? `, ${alive} alive` : ''})` : ''
  const why = p.kind === 'relay' && p.reason ? ` (${p.reason})` : ''
  return `${p.kind} ${p.proto} ${p.local} -> ${p.remote}${standby}${why}`
}

/** Seconds as "3d 4h", "5m 2s" and so on. */
export function duration(seconds: number): string {
  const s = Math.floor(seconds)
  const parts: Array<[number, string]> = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']]
  const first = parts.findIndex(([v]) => v > 0)
  if (first === -1) return '0s'
  return parts.slice(first, first + 2).map(([v, u]) => `${v}${u}`).join(' ')
}

/** The peers table. */
export function peersTable(peers: PeerInfo[]): string {
  if (peers.length === 0) return 'no peers yet; pin one with: p2pctl peer add NAME KEY'
  return table(['NAME', 'KEY', 'STATE', 'PATH', 'RTT'], peers.map((p) => [
    p.name ?? '-', shortKey(p.key), p.state === 'failed' && p.lastError ? `failed (${p.lastError.code})` : p.state, path(p.path), ms(p.path?.rttMs),
  ]))
}

/** The forwards table. */
export function forwardsTable(forwards: ForwardInfo[]): string {
  if (forwards.length === 0) return 'no forwards; add one with: p2pctl forward PORT --peer PEER'
  return table(['ID', 'PROTO', 'BIND', 'PEER', 'TO', 'CONNS', 'IN', 'OUT'], forwards.map((f) => [
    f.id, f.proto, f.bind, f.peer, f.to, String(f.connections), bytes(f.bytesIn), bytes(f.bytesOut),
  ]))
}

/** The exposes table. */
export function exposesTable(exposes: ExposeInfo[]): string {
  if (exposes.length === 0) return 'nothing exposed; allow a peer with: p2pctl expose PORT --peer PEER'
  return table(['ID', 'PROTO', 'TARGET', 'PEER'], exposes.map((e) => [e.id, e.proto, e.target, e.peer === '*' ? '* (any peer)' : e.peer]))
}

/** The interfaces table. */
export function interfacesTable(interfaces: InterfaceInfo[]): string {
  if (interfaces.length === 0) return 'no usable interfaces'
  const rows = table(['NAME', 'TYPE', 'STATE', 'ADDRESS', 'ENDPOINT', 'PUBLIC', 'PATHS', 'IN USE'], interfaces.map((i) => [
    i.name, `${i.type ?? '-'}${i.virtual ? ' (virtual)' : ''}`, i.operstate ?? '-', i.address, i.inUse ? i.endpoint : '-', i.public ?? '-',
    String(i.activePaths), i.inUse ? (i.ownEndpoint ? 'yes (own endpoint)' : 'yes') : `no: ${i.reason ?? 'unusable'}`,
  ]))
  const notes = interfaces.filter((i) => i.note).map((i) => `${i.name} ${i.address}: ${i.note}`)
  return notes.length ? `${rows}\n\n${notes.join('\n')}` : rows
}

/** One line per event, for `watch`. */
export function event(e: DaemonEvent): string {
  switch (e.type) {
    case 'peer': return `peer ${e.peer.name ?? shortKey(e.peer.key)}: ${e.peer.state}${e.peer.path ? ` via ${path(e.peer.path)}` : ''} (${e.reason})`
    case 'punch': return `punch ${e.peer}: ${e.stage} ${e.detail}`.trimEnd()
    case 'forward': return `forward ${e.action}: ${e.forward.id} ${e.forward.proto} ${e.forward.bind} -> ${e.forward.peer}:${e.forward.to}`
    case 'connection': return `connection ${e.action}: ${e.connectionId} on forward ${e.forwardId} ${e.detail}`.trimEnd()
    case 'expose': return `expose ${e.action}: ${e.expose.id} ${e.expose.proto} ${e.expose.target} for ${e.expose.peer}`
    case 'broker': return `broker ${e.broker.address}: ${e.broker.state}${e.broker.rttMs !== null ? ` rtt ${ms(e.broker.rttMs)}` : ''}`
    case 'path': return `path ${e.peer}: ${e.path ? path(e.path) : 'none'} (${e.reason})`
    case 'error': return `error ${e.code}${e.peer ? ` ${e.peer}` : ''}${e.forwardId ? ` on forward ${e.forwardId}` : ''}: ${e.message}`
    default: return JSON.stringify(e)
  }
}

/** Aligned "key  value" lines without a header. */
export function pairs(rows: Array<[string, string]>): string {
  return table(['', ''], rows).split('\n').slice(1).join('\n')
}
