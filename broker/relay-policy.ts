// Where a relay may send: never to loopback, private, link-local, metadata or other special
// addresses, in whatever form they come (IPv4-mapped, NAT64, 6to4, IPv4-compatible, hex or
// octal IPv4), or a relay could be aimed at the broker's own network. Pure.
import ipaddr from 'ipaddr.js'

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number]
const cidrs = (list: string[]): Cidr[] => list.map((c) => ipaddr.parseCIDR(c))

// Cloud metadata services answer on these; refused even when private addresses are allowed.
const METADATA = cidrs(['169.254.169.254/32', '169.254.170.2/32', '100.100.100.200/32', 'fd00:ec2::254/128', 'fd00:ec2::23/128'])
// Never a peer: unspecified, broadcast, multicast, link-local, reserved and protocol-assignment
// nets, benchmarking, deprecated site-local, discard, Teredo tunnels.
const NEVER = cidrs([
  '0.0.0.0/8', '255.255.255.255/32', '224.0.0.0/4', '240.0.0.0/4', '169.254.0.0/16', '192.0.0.0/24', '198.18.0.0/15',
  '::/128', 'ff00::/8', 'fe80::/10', 'fec0::/10', '100::/64', '2001::/32', '2001:2::/48',
])
// Loopback and private nets: allowed only with allowPrivate (a LAN broker, loopback tests).
const PRIVATE = cidrs(['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '::1/128', 'fc00::/7'])
// IPv6 forms that carry an IPv4 address: judged by the address they carry.
const EMBEDDED: { net: Cidr; at: number }[] = [
  { net: ipaddr.parseCIDR('::ffff:0:0/96'), at: 12 }, // IPv4-mapped
  { net: ipaddr.parseCIDR('::ffff:0:0:0/96'), at: 12 }, // SIIT (RFC 6145)
  { net: ipaddr.parseCIDR('64:ff9b::/96'), at: 12 }, // NAT64 well-known prefix
  { net: ipaddr.parseCIDR('64:ff9b:1::/48'), at: 12 }, // NAT64 local-use prefix
  { net: ipaddr.parseCIDR('2002::/16'), at: 2 }, // 6to4
  { net: ipaddr.parseCIDR('::/96'), at: 12 }, // IPv4-compatible (deprecated)
]

/** Relay address rules. */
export interface RelayPolicy {
  /** Allow loopback and private (RFC 1918, CGNAT, ULA) addresses: a LAN broker or loopback tests. */
  allowPrivate: boolean
}

/** Why the relay must not send to `host`, or null when it may. */
export function relayRefusal(host: string, policy: RelayPolicy): string | null {
  let addr: ipaddr.IPv4 | ipaddr.IPv6
  try {
    addr = ipaddr.parse(host.trim())
  } catch {
    return `${host} is not an IP address`
  }
  // Sockets report dotted quads; hex, octal or short forms only come from someone being clever.
  if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(host.trim())) return `${host} is not a plain dotted-quad address`
  return refusal(addr, host, policy, 0)
}

function refusal(addr: ipaddr.IPv4 | ipaddr.IPv6, shown: string, policy: RelayPolicy, depth: number): string | null {
  if (matchAny(addr, METADATA)) return `${shown} is a cloud metadata address`
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6
    for (const e of EMBEDDED) {
      // ::/96 also holds ::1, which is loopback (PRIVATE below), not 0.0.0.1.
      if (!v6.match(e.net) || depth > 2 || v6.toString() === '::1') continue
      const inner = ipaddr.fromByteArray(v6.toByteArray().slice(e.at, e.at + 4))
      const why = refusal(inner, shown, policy, depth + 1)
      if (why !== null) return `${why} (as ${inner.toString()})`
    }
  }
  if (matchAny(addr, NEVER)) return `${shown} is not a unicast public address`
  if (!policy.allowPrivate && matchAny(addr, PRIVATE)) return `${shown} is a loopback or private address (the broker allows those with --relay-allow-private)`
  return null
}

function matchAny(addr: ipaddr.IPv4 | ipaddr.IPv6, list: Cidr[]): boolean {
  return list.some((c) => c[0].kind() === addr.kind() && addr.match(c))
}
