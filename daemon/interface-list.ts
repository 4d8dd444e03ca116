// What `p2pctl interfaces` shows: every non-internal address, whether it is used and why not, the
// endpoint it is reached on (the main socket's port, or a socket of its own off the default
// route), its public mapping, and how many peer paths leave from it.
import { formatHostPort, parseHostPort } from '../common/lifecycle.js'
import type { InterfaceInfo, PeerInfo } from './api/types.js'
import type { InterfaceEndpointInfo } from './interface-endpoints.js'
import type { CheckedAddress, InterfaceMeta } from './interfaces.js'

/** Build the interface list from the daemon's parts (metadata as last loaded). */
export function interfaceList(input: {
  addresses: CheckedAddress[]
  meta: Map<string, InterfaceMeta>
  own: InterfaceEndpointInfo[]
  peers: PeerInfo[]
  /** The main socket's port, whether it carries IPv6, and our public mapping through it. */
  mainPort: number
  dualStack: boolean
  mainPublic: string | null
}): InterfaceInfo[] {
  const pathsByHost = new Map<string, number>()
  for (const p of input.peers) {
    const host = p.path?.local ? parseHostPort(p.path.local, 'path').host : null
    if (host) pathsByHost.set(host, (pathsByHost.get(host) ?? 0) + 1)
  }
  const own = new Map(input.own.map((e) => [e.address, e]))
  return input.addresses.map((a) => {
    const m = input.meta.get(a.name)
    // IPv6 needs the dual-stack socket (a host with IPv6 disabled gets a 0.0.0.0 one).
    const usable = a.usable && (a.family === 4 || input.dualStack)
    // An address off the default route has an endpoint of its own, with its own mapping.
    const e = usable ? own.get(a.address) : undefined
    const endpoint = e ? formatHostPort(e.local.host, e.local.port) : formatHostPort(a.address, input.mainPort)
    const mapped = e ? (e.public ? formatHostPort(e.public.host, e.public.port) : null) : usable && a.family === 4 ? input.mainPublic : null
    return {
      name: a.name, address: a.address, family: a.family, endpoint, public: mapped, ownEndpoint: e !== undefined, note: e?.note ?? null,
      inUse: usable, reason: a.usable ? (usable ? null : 'the UDP socket is IPv4-only (IPv6 is off on this host)') : a.reason, activePaths: pathsByHost.get(a.address) ?? 0,
      type: m?.type ?? null, virtual: m?.virtual ?? null, operstate: m?.operstate ?? null,
    }
  })
}
