// Which local addresses the daemon may announce and punch from: `interfaces_allow` and
// `interfaces_deny` rules (interface names with * globs, or CIDR blocks), plus the address
// classes that never make a path (loopback, link-local, unspecified).
import { BlockList, isIP } from 'node:net'
import type ipaddrT from 'ipaddr.js'
import { requireCjs } from '../protocol/cjs.js'

const ipaddr = requireCjs('ipaddr.js') as typeof ipaddrT

/** One allow/deny rule as written by the user. */
export type InterfaceRule =
  | { kind: 'name'; text: string; pattern: RegExp }
  | { kind: 'cidr'; text: string; family: 4 | 6; block: BlockList }

/** A local address and the interface that holds it. */
export interface LocalAddress {
  name: string
  address: string
  family: 4 | 6
}

/** Verdict for one address: usable, or why not. */
export type AddressVerdict = { usable: true } | { usable: false; reason: string }

const NAME_RE = /^[A-Za-z0-9_.:@*-]{1,32}$/

/** Parse one rule: "eth0", "docker*", "10.0.0.0/8", "fd00::/8" or a bare address. Throws Error with the reason. */
export function parseInterfaceRule(text: string): InterfaceRule {
  const t = text.trim()
  const slash = t.indexOf('/')
  const ip = slash === -1 ? t : t.slice(0, slash)
  const v = isIP(ip)
  if (v === 4 || v === 6) {
    const family = v
    const max = family === 4 ? 32 : 128
    const bits = slash === -1 ? max : Number(t.slice(slash + 1))
    if (!Number.isInteger(bits) || bits < 0 || bits > max || (slash !== -1 && !/^\d+$/.test(t.slice(slash + 1)))) {
      throw new Error(`"${text}": prefix length must be a whole number from 0 to ${max}`)
    }
    const block = new BlockList()
    block.addSubnet(ip, bits, family === 4 ? 'ipv4' : 'ipv6')
    return { kind: 'cidr', text: t, family, block }
  }
  if (slash !== -1) throw new Error(`"${text}": "${ip}" is not an IP address (write a CIDR like 10.0.0.0/8 or fd00::/8)`)
  if (!NAME_RE.test(t)) throw new Error(`"${text}": not an interface name (letters, digits, "_.:@-", "*" as a wildcard) nor an address or CIDR`)
  const pattern = new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`)
  return { kind: 'name', text: t, pattern }
}

/** Allow/deny rules over local addresses. An empty allow list allows every interface. */
export class InterfaceFilter {
  private readonly allow: InterfaceRule[]
  private readonly deny: InterfaceRule[]

  constructor(allow: readonly string[] = [], deny: readonly string[] = []) {
    this.allow = allow.map(parseInterfaceRule)
    this.deny = deny.map(parseInterfaceRule)
  }

  /** May this address be announced and punched from? */
  verdict(a: LocalAddress): AddressVerdict {
    const cls = addressClass(a.address)
    if (cls !== null) return { usable: false, reason: cls }
    const denied = this.deny.find((r) => matches(r, a))
    if (denied) return { usable: false, reason: `denied by interfaces_deny "${denied.text}"` }
    if (this.allow.length > 0 && !this.allow.some((r) => matches(r, a))) return { usable: false, reason: 'not in interfaces_allow' }
    return { usable: true }
  }
}

function matches(rule: InterfaceRule, a: LocalAddress): boolean {
  if (rule.kind === 'name') return rule.pattern.test(a.name)
  // BlockList would match IPv4 against v6 rules as ::ffff:a.b.c.d; a rule keeps to its family.
  return rule.family === a.family && rule.block.check(a.address, a.family === 4 ? 'ipv4' : 'ipv6')
}

// Address classes that never carry a path between two machines on different networks.
const NEVER_USED: Record<string, string> = { loopback: 'loopback', linkLocal: 'link-local', unspecified: 'unspecified', multicast: 'multicast', broadcast: 'broadcast' }

/** Why `address` can never carry a path (loopback, link-local, unspecified, multicast, broadcast), or null. */
export function addressClass(address: string): string | null {
  try {
    return NEVER_USED[ipaddr.parse(address).range()] ?? null
  } catch {
    return null
  }
}
