// The NAT lab: network namespaces with real Linux NAT, built and torn down by the tests.
// "The internet" is a bridge in its own namespace holding the public test nets
// (203.0.113.0/24, 198.51.100.0/24); routers NAT their LANs onto it with iptables; hosts sit
// behind routers (or on the bridge, for a public host). Nothing connects to the host's network.
import type { ChildProcess } from 'node:child_process'
import { nsExec, nsSpawn, sh } from './netns.js'

/** NAT behaviour of a router. */
export type NatKind = 'cone' | 'symmetric'

/** Impairments of a router's WAN link. */
export interface LinkOptions {
  /** Percent of packets dropped in each direction (nft numgen). */
  lossPct?: number
  /** Rate cap in Mbit/s on the WAN link, each direction (tbf). */
  rateMbit?: number
}

/** A NAT router. */
export interface Router {
  ns: string
  kind: NatKind
  /** WAN address (public, or the upstream router's LAN address for a double NAT). */
  wan: string
  /** LAN subnet prefix, e.g. "10.0.3" (router is .1). */
  lan: string
  upstream: Router | null
  nextHost: number
  /** IPv6 /64 of the LAN ("2001:db8:5:"; router is ::1), or null when the router has no IPv6. */
  v6: string | null
}

/** A plain switched LAN (a bridge, no router, no internet). */
export interface Lan { ns: string; prefix: string; nextHost: number }

/** A host: a namespace with one address. */
export interface Host {
  name: string
  ns: string
  ip: string
  /** Global IPv6 address, when the host's router (or the internet, for a public host) has IPv6. */
  ip6: string | null
  router: Router | null
}

/** Addresses of the "internet" namespace, where brokers run. */
export const INTERNET = { primary: '203.0.113.1', secondary: '198.51.100.1', v6: '2001:db8:ff::1' }
/** The internet's IPv6 net (routers' WAN addresses and public hosts). */
const INET6 = '2001:db8:ff::'

let labSeq = 0

/** One lab instance; destroy() removes every namespace and process it made. */
export class Lab {
  readonly inet: string
  private readonly prefix: string
  private readonly namespaces: string[] = []
  private readonly procs = new Set<ChildProcess>()
  private nextNs = 0
  private nextPublic = 10
  private nextLan = 1
  private inet6 = false

  private constructor(prefix: string) {
    this.prefix = prefix
    this.inet = `${prefix}i`
  }

  /** Build the internet namespace and its bridge. */
  static async create(): Promise<Lab> {
    await cleanupStale()
    const lab = new Lab(`p2l${process.pid}x${labSeq++}`)
    await lab.addNs(lab.inet)
    await nsExec(lab.inet, ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
    await nsExec(lab.inet, ['ip', 'link', 'set', 'br0', 'up'])
    await nsExec(lab.inet, ['ip', 'addr', 'add', `${INTERNET.primary}/24`, 'dev', 'br0'])
    await nsExec(lab.inet, ['ip', 'addr', 'add', `${INTERNET.secondary}/24`, 'dev', 'br0'])
    return lab
  }

  /** A NAT router on the internet, or behind `upstream` (double NAT). */
  async router(kind: NatKind, opts: LinkOptions & { upstream?: Router; ipv6?: boolean } = {}): Promise<Router> {
    const ns = await this.newNs('r')
    const lanIndex = this.nextLan
    const lan = `10.${this.nextLan >> 8}.${this.nextLan++ & 255}`
    let wan: string
    let gw: string
    if (opts.upstream) {
      const up = opts.upstream
      wan = `${up.lan}.${up.nextHost++}`
      gw = `${up.lan}.1`
      await this.veth(ns, 'wan', up.ns, `l${this.nextNs}`, 'lanbr')
      await nsExec(ns, ['ip', 'addr', 'add', `${wan}/24`, 'dev', 'wan'])
    } else {
      wan = `203.0.113.${this.nextPublic++}`
      gw = INTERNET.primary
      await this.veth(ns, 'wan', this.inet, `w${this.nextNs}`, 'br0')
      await nsExec(ns, ['ip', 'addr', 'add', `${wan}/24`, 'dev', 'wan'])
    }
    await nsExec(ns, ['ip', 'route', 'add', 'default', 'via', gw])
    await nsExec(ns, ['ip', 'link', 'add', 'lanbr', 'type', 'bridge'])
    await nsExec(ns, ['ip', 'link', 'set', 'lanbr', 'up'])
    await nsExec(ns, ['ip', 'addr', 'add', `${lan}.1/24`, 'dev', 'lanbr'])
    await nsExec(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    await nsExec(ns, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(kind === 'symmetric' ? ['--random-fully'] : [])])
    // A home router's firewall: nothing unsolicited from the WAN reaches the router or the LAN.
    // (Dropped packets also leave no conntrack entry, as on real routers.)
    for (const chain of ['INPUT', 'FORWARD']) {
      await nsExec(ns, ['iptables', '-A', chain, '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])
      await nsExec(ns, ['iptables', '-A', chain, '-i', 'wan', '-j', 'DROP'])
    }
    const r: Router = { ns, kind, wan, lan, upstream: opts.upstream ?? null, nextHost: 2, v6: null }
    if (opts.ipv6) {
      if (opts.upstream) throw new Error('IPv6 is for routers on the internet')
      r.v6 = await this.routerIpv6(ns, lanIndex)
    }
    await this.impair(r, opts)
    return r
  }

  // IPv6 as ISPs hand it out: no NAT, a global /64 per home, and a stateful firewall on the
  // router that lets replies in and drops anything unsolicited from the WAN (nft, both hooks).
  private async routerIpv6(ns: string, index: number): Promise<string> {
    await this.enableInet6()
    const prefix = `2001:db8:${index.toString(16)}:`
    const wan6 = `${INET6}${(0x100 + index).toString(16)}`
    await nsExec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'])
    await nsExec(ns, ['ip', '-6', 'addr', 'add', `${wan6}/64`, 'dev', 'wan', 'nodad'])
    await nsExec(ns, ['ip', '-6', 'addr', 'add', `${prefix}:1/64`, 'dev', 'lanbr', 'nodad'])
    await nsExec(ns, ['ip', '-6', 'route', 'add', 'default', 'via', INTERNET.v6])
    await nsExec(this.inet, ['ip', '-6', 'route', 'add', `${prefix}:/64`, 'via', wan6])
    const rules = [
      'add table ip6 fw',
      'add chain ip6 fw input6 { type filter hook input priority 0 ; policy accept ; }',
      'add chain ip6 fw forward6 { type filter hook forward priority 0 ; policy accept ; }',
      'add rule ip6 fw input6 iifname "wan" ct state established,related accept',
      'add rule ip6 fw input6 iifname "wan" icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
      'add rule ip6 fw input6 iifname "wan" counter drop',
      'add rule ip6 fw forward6 iifname "wan" ct state established,related accept',
      'add rule ip6 fw forward6 iifname "wan" counter drop',
    ]
    for (const rule of rules) await nsExec(ns, ['nft', rule])
    return prefix
  }

  private async enableInet6(): Promise<void> {
    if (this.inet6) return
    this.inet6 = true
    await nsExec(this.inet, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'])
    await nsExec(this.inet, ['ip', '-6', 'addr', 'add', `${INTERNET.v6}/64`, 'dev', 'br0', 'nodad'])
  }

  /** Packets a router's IPv6 firewall dropped from the WAN so far (unsolicited traffic). */
  async firewallDrops6(r: Router): Promise<number> {
    const out = await nsExec(r.ns, ['nft', 'list', 'table', 'ip6', 'fw'])
    return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
  }

  /** A host behind `router`, or on the internet bridge when router is null (a public host). */
  async host(name: string, router: Router | null): Promise<Host> {
    const ns = await this.newNs('h')
    if (router) {
      const ip = `${router.lan}.${router.nextHost++}`
      await this.veth(ns, 'eth0', router.ns, `l${this.nextNs}`, 'lanbr')
      await nsExec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
      await nsExec(ns, ['ip', 'route', 'add', 'default', 'via', `${router.lan}.1`])
      let ip6: string | null = null
      if (router.v6) {
        ip6 = `${router.v6}:${(router.nextHost - 1).toString(16)}`
        await nsExec(ns, ['ip', '-6', 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad'])
        await nsExec(ns, ['ip', '-6', 'route', 'add', 'default', 'via', `${router.v6}:1`])
      }
      return { name, ns, ip, ip6, router }
    }
    const ip = `203.0.113.${this.nextPublic++}`
    await this.veth(ns, 'eth0', this.inet, `p${this.nextNs}`, 'br0')
    await nsExec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
    await nsExec(ns, ['ip', 'route', 'add', 'default', 'via', INTERNET.primary])
    return { name, ns, ip, ip6: null, router: null }
  }

  /** A switched LAN of its own, e.g. an office network two hosts join later. */
  async lan(): Promise<Lan> {
    const ns = await this.newNs('s')
    await nsExec(ns, ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
    await nsExec(ns, ['ip', 'link', 'set', 'br0', 'up'])
    return { ns, prefix: `10.${200 + (this.nextLan >> 8)}.${this.nextLan++ & 255}`, nextHost: 2 }
  }

  /** Give a running host another interface (ethN) on `lan`: an interface that appears mid-run. */
  async attach(host: Host, lan: Lan, ifname = 'eth1'): Promise<string> {
    const ip = `${lan.prefix}.${lan.nextHost++}`
    await this.veth(host.ns, ifname, lan.ns, `a${this.nextNs++}`, 'br0')
    await nsExec(host.ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', ifname])
    return ip
  }

  /** A second uplink for a running host: interface `ifname` on `router`'s LAN with a default
   * route of higher metric (used when the first uplink is gone), and source routing for its
   * address unless `sourceRouting` is false. Returns its address. */
  async uplink(host: Host, router: Router, ifname = 'eth1', metric = 200, sourceRouting = true): Promise<string> {
    const ip = `${router.lan}.${router.nextHost++}`
    await this.veth(host.ns, ifname, router.ns, `u${this.nextNs++}`, 'lanbr')
    await nsExec(host.ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', ifname])
    await nsExec(host.ns, ['ip', 'route', 'add', 'default', 'via', `${router.lan}.1`, 'metric', String(metric)])
    if (!sourceRouting) return ip
    // Source routing, as a multi-WAN host has it: what is sent from this uplink's address leaves
    // by this uplink (Linux routes by destination alone otherwise: out of the first uplink).
    const table = String(100 + this.nextNs)
    await nsExec(host.ns, ['ip', 'route', 'add', `${router.lan}.0/24`, 'dev', ifname, 'src', ip, 'table', table])
    await nsExec(host.ns, ['ip', 'route', 'add', 'default', 'via', `${router.lan}.1`, 'dev', ifname, 'table', table])
    await nsExec(host.ns, ['ip', 'rule', 'add', 'from', ip, 'table', table, 'priority', '100'])
    return ip
  }

  /** Fault: a host's interface goes down (cable pulled, Wi-Fi gone); its routes go with it. */
  async linkDown(host: Host, ifname: string): Promise<void> {
    await nsExec(host.ns, ['ip', 'link', 'set', ifname, 'down'])
  }

  /** Loss and rate limits on a router's WAN link (both directions). */
  async impair(r: Router, opts: LinkOptions): Promise<void> {
    if (opts.lossPct) {
      const p = Math.round(opts.lossPct * 100)
      const rules = [
        'add table inet lab',
        'add chain inet lab lossy { type filter hook forward priority 0 ; policy accept ; }',
        `add rule inet lab lossy iifname "wan" numgen random mod 10000 < ${p} counter drop`,
        `add rule inet lab lossy oifname "wan" numgen random mod 10000 < ${p} counter drop`,
      ]
      for (const rule of rules) await nsExec(r.ns, ['nft', rule])
    }
    if (opts.rateMbit) {
      await nsExec(r.ns, ['tc', 'qdisc', 'add', 'dev', 'wan', 'root', 'tbf', 'rate', `${opts.rateMbit}mbit`, 'burst', '64kb', 'latency', '100ms'])
      await nsExec(r.ns, ['tc', 'qdisc', 'add', 'dev', 'lanbr', 'root', 'tbf', 'rate', `${opts.rateMbit}mbit`, 'burst', '64kb', 'latency', '100ms'])
    }
  }

  /** Packets the loss rules of `r` dropped so far (proof the impairment is real). */
  async droppedPackets(r: Router): Promise<number> {
    const out = await nsExec(r.ns, ['nft', 'list', 'chain', 'inet', 'lab', 'lossy'])
    return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
  }

  /** Fault: the router forgets every mapping, and new ones get other external ports (from a range
   * below Linux's ephemeral ports, so a port-preserving NAT cannot keep an old one). */
  async forgetMappings(r: Router, portRange = '20000-29999'): Promise<void> {
    await nsExec(r.ns, ['iptables', '-t', 'nat', '-F', 'POSTROUTING'])
    await nsExec(r.ns, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-p', 'udp', '-j', 'MASQUERADE', '--to-ports', portRange, ...(r.kind === 'symmetric' ? ['--random-fully'] : [])])
    await nsExec(r.ns, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(r.kind === 'symmetric' ? ['--random-fully'] : [])])
    await nsExec(r.ns, ['conntrack', '-F']).catch(() => '')
  }

  /** Fault: the router's WAN address changes (a new public IP from the ISP). */
  async changeWan(r: Router): Promise<string> {
    if (r.upstream) throw new Error('changeWan is for routers on the internet')
    const next = `203.0.113.${this.nextPublic++}`
    // Without promote_secondaries, deleting the old (primary) address would take the new one too.
    await nsExec(r.ns, ['sysctl', '-qw', 'net.ipv4.conf.wan.promote_secondaries=1'])
    await nsExec(r.ns, ['ip', 'addr', 'add', `${next}/24`, 'dev', 'wan'])
    await nsExec(r.ns, ['ip', 'addr', 'del', `${r.wan}/24`, 'dev', 'wan'])
    await nsExec(r.ns, ['ip', 'route', 'replace', 'default', 'via', INTERNET.primary])
    await nsExec(r.ns, ['conntrack', '-F']).catch(() => '')
    r.wan = next
    return next
  }

  /** Run a command in a namespace of this lab. */
  exec(ns: string, argv: string[], timeoutMs?: number): Promise<string> {
    return nsExec(ns, argv, timeoutMs)
  }

  /** Start a process in a namespace; it is killed by destroy() if still running. */
  spawn(ns: string, argv: string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const child = nsSpawn(ns, argv, env)
    this.procs.add(child)
    child.on('exit', () => this.procs.delete(child))
    child.on('error', () => this.procs.delete(child))
    return child
  }

  /** Kill every process this lab started and delete its namespaces. */
  async destroy(): Promise<void> {
    await Promise.all([...this.procs].map((p) => killAndWait(p)))
    for (const ns of this.namespaces.reverse()) await sh(['ip', 'netns', 'del', ns]).catch(() => '')
    this.namespaces.length = 0
  }

  private async newNs(kind: string): Promise<string> {
    const ns = `${this.prefix}${kind}${this.nextNs++}`
    await this.addNs(ns)
    return ns
  }

  private async addNs(ns: string): Promise<void> {
    await sh(['ip', 'netns', 'add', ns])
    this.namespaces.push(ns)
    await nsExec(ns, ['ip', 'link', 'set', 'lo', 'up'])
  }

  // A veth pair created straight into its two namespaces (no names in the host's namespace).
  private async veth(nsA: string, nameA: string, nsB: string, nameB: string, bridgeB: string): Promise<void> {
    await sh(['ip', 'link', 'add', nameA, 'netns', nsA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB])
    await nsExec(nsA, ['ip', 'link', 'set', nameA, 'up'])
    await nsExec(nsB, ['ip', 'link', 'set', nameB, 'master', bridgeB])
    await nsExec(nsB, ['ip', 'link', 'set', nameB, 'up'])
  }
}

async function killAndWait(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
  p.kill('SIGTERM')
  const t = setTimeout(() => p.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(t)
}

// Namespaces left by a lab whose process died (killed test run): remove them.
async function cleanupStale(): Promise<void> {
  const list = await sh(['ip', 'netns', 'list']).catch(() => '')
  for (const line of list.split('\n')) {
    const m = /^(p2l(\d+)x\S+)/.exec(line.trim())
    if (!m) continue
    const pid = Number(m[2])
    let alive = true
    try {
      process.kill(pid, 0)
    } catch {
      alive = false
    }
    if (!alive) await sh(['ip', 'netns', 'del', m[1]!]).catch(() => '')
  }
}
