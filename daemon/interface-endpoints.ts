// Endpoints of their own for interface addresses the kernel does not route by default (a second
// uplink, a LAN beside the Wi-Fi): the main dual-stack socket leaves by the default route, so
// without these a second uplink could never be punched. Each such address gets a UDX socket bound
// to it (on the main socket's UDX instance, so sessions can run on it), registered with every
// broker of its family by REGISTER_ENDPOINT (docs/PROTOCOL.md §2): the broker passes what it saw
// on in introductions, and the refresh keeps that uplink's NAT mapping open. For packets from an
// address to leave by its own interface the host needs source routing (`ip rule from ADDR`);
// without it no broker answers through that socket, and `p2pctl interfaces` says so.
import { randomBytes, randomInt } from 'node:crypto'
import type { UDXSocket } from 'udx-native'
import { encodeSigned, type WireMessage } from '../protocol/wire.js'
import type { KeyPair } from '../protocol/identity.js'
import type { Addr } from '../protocol/punch.js'
import { classifyNat, type NatClassification } from '../protocol/nat-classify.js'
import { familyOf, formatHostPort } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { Counters } from './counters.js'
import type { Endpoint } from './endpoint.js'
import type { LocalAddress } from './interface-filter.js'

/** The broker side an interface endpoint needs: where it is and whether we are registered there. */
export interface EndpointBroker {
  resolvedAddress(): Addr | null
  readonly registered: boolean
}

/** One interface endpoint as the API shows it. */
export interface InterfaceEndpointInfo {
  address: string
  local: Addr
  /** What the first broker that answered saw, or null. */
  public: Addr | null
  /** Why it has no public mapping, when it has none. */
  note: string | null
}

interface Registration { server: Addr; reqId: number | null; sentAt: number; tries: number; nextAt: number; observed: Addr | null; answeredAt: number | null; refused: string | null }
interface Entry { local: LocalAddress; socket: UDXSocket; regs: Map<string, Registration>; openedAt: number }

const TICK_MS = 1_000
const MAX_SOCKETS = 8
// Where "the default route" is looked up when no broker of that family is known (no packet is sent).
const DEFAULT_TARGET = { 4: '192.0.2.1', 6: '2001:db8::1' } as const

/** The interface endpoints and their broker registrations. */
export class InterfaceEndpoints {
  private readonly entries = new Map<string, Entry>()
  private timer: NodeJS.Timeout | null = null
  private syncing: Promise<void> | null = null
  private again = false
  private reqId = randomInt(1, 0x7fffffff)

  constructor(
    private readonly deps: {
      endpoint: Endpoint
      keyPair: KeyPair
      brokers: () => EndpointBroker[]
      /** Usable interface addresses (interfaces_allow/deny applied). */
      usable: () => LocalAddress[]
      /** The local address the kernel sends from toward `host`, or null without a route. */
      routeSource: (host: string, port: number) => Promise<string | null>
      refreshMs: number
      logger: Logger
      counters: Counters
      now?: () => number
    },
  ) {}

  /** Start refreshing registrations (sockets come with sync()). */
  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  /** Stop refreshing; the sockets close with the endpoint. */
  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Open sockets for new addresses off the default route's interface, close those of addresses gone. A call during a sync runs once more after it. */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.again = true
      return this.syncing
    }
    this.syncing = this.syncOnce().finally(() => {
      this.syncing = null
    })
    await this.syncing
    if (this.again) {
      this.again = false
      await this.sync()
    }
  }

  private async syncOnce(): Promise<void> {
    const usable = this.deps.usable().filter((a) => a.family === 4 || this.deps.endpoint.dualStack)
    for (const address of [...this.entries.keys()]) {
      if (usable.some((a) => a.address === address)) continue
      this.entries.delete(address)
      this.deps.endpoint.closeInterfaceSocket(address)
      this.deps.logger.info({ address }, 'interface address gone: its endpoint is closed')
    }
    const defaults = new Map<number, string | null>()
    for (const family of [4, 6] as const) {
      const broker = this.deps.brokers().map((b) => b.resolvedAddress()).find((b) => b !== null && familyOf(b.host) === family)
      defaults.set(family, await this.deps.routeSource(broker?.host ?? DEFAULT_TARGET[family], broker?.port ?? 9))
    }
    // The main socket serves the default route's interface (every address on it); an address
    // that becomes the default later keeps its socket (a session may be running on it).
    const mainIfaces = new Set(usable.filter((a) => defaults.get(a.family) === a.address).map((a) => `${a.family}|${a.name}`))
    for (const a of usable) {
      if (this.entries.has(a.address) || mainIfaces.has(`${a.family}|${a.name}`) || this.entries.size >= MAX_SOCKETS) continue
      let socket: UDXSocket
      try {
        socket = this.deps.endpoint.openInterfaceSocket(a.address)
      } catch (err) {
        this.deps.counters.inc('interface_socket_bind_errors')
        this.deps.logger.warn({ err, address: a.address }, 'could not open an endpoint on this address')
        continue
      }
      this.entries.set(a.address, { local: a, socket, regs: new Map(), openedAt: this.now() })
      this.deps.logger.info({ interface: a.name, endpoint: formatHostPort(a.address, socket.address().port) }, 'endpoint opened on a non-default interface')
    }
    this.tick()
  }

  /** Register every endpoint again now (a stall: a mapping may have changed); one request in flight at a time. */
  refreshNow(): void {
    const now = this.now()
    for (const e of this.entries.values()) for (const r of e.regs.values()) if (r.reqId === null || now - r.sentAt >= TICK_MS) r.nextAt = 0
    this.tick()
  }

  /** Sockets for probes of one family, besides the main socket. */
  sockets(family: 4 | 6): UDXSocket[] {
    return [...this.entries.values()].filter((e) => e.local.family === family).map((e) => e.socket)
  }

  /** Take a broker's answer that arrived on an interface socket; false when it is none of ours. */
  handle(msg: WireMessage, from: Addr, socket: UDXSocket): boolean {
    if (msg.type !== 'registered' && msg.type !== 'error') return false
    const entry = [...this.entries.values()].find((e) => e.socket === socket)
    const reg = entry?.regs.get(formatHostPort(from.host, from.port))
    if (!entry || !reg || reg.reqId !== msg.reqId) return false
    reg.reqId = null
    reg.tries = 0
    reg.nextAt = this.now() + this.deps.refreshMs
    if (msg.type === 'error') {
      reg.refused = msg.message
      return true
    }
    reg.refused = null
    reg.answeredAt = this.now()
    const seen = { host: msg.observed.host, port: msg.observed.port }
    if (!reg.observed || reg.observed.host !== seen.host || reg.observed.port !== seen.port) {
      this.deps.logger.info({ interface: entry.local.name, public: formatHostPort(seen.host, seen.port) }, 'broker sees this interface endpoint')
    }
    reg.observed = seen
    return true
  }

  /** Each interface endpoint with what the brokers saw of it. */
  list(): InterfaceEndpointInfo[] {
    const now = this.now()
    return [...this.entries.values()].map((e) => {
      const local = { host: e.local.address, port: e.socket.address().port }
      const live = [...e.regs.values()].filter((r) => r.answeredAt !== null && now - r.answeredAt < 2 * this.deps.refreshMs + 10_000)
      const pub = live.find((r) => r.observed)?.observed ?? null
      return { address: e.local.address, local, public: pub, note: pub ? null : this.noteFor(e, now) }
    })
  }

  /** The NAT behind one interface endpoint, from what each broker saw of it (null: no own endpoint there, or no broker answered it). */
  classification(address: string): NatClassification | null {
    const e = this.entries.get(address)
    if (!e) return null
    const port = e.socket.address().port
    const seen = [...e.regs.values()].filter((r) => r.observed !== null && r.answeredAt !== null)
    if (seen.length === 0) return null
    return classifyNat(seen.map((r) => ({ server: r.server, localPort: port, observed: r.observed!, at: r.answeredAt! })), [address])
  }

  private noteFor(e: Entry, now: number): string {
    const refused = [...e.regs.values()].find((r) => r.refused)?.refused
    if (refused) return `a broker refused this endpoint: ${refused}`
    if (e.regs.size === 0) return `no broker of IPv${e.local.family} to register with`
    if (now - e.openedAt < 5_000) return 'registering with the brokers'
    return `no broker answered through ${e.local.address}: the host must route packets from it out of ${e.local.name} (source routing, e.g. ip rule add from ${e.local.address} table 100)`
  }

  private tick(): void {
    const now = this.now()
    const brokers = this.deps.brokers()
    for (const e of this.entries.values()) {
      for (const b of brokers) {
        const to = b.resolvedAddress()
        if (!to || !b.registered || familyOf(to.host) !== e.local.family) continue
        const id = formatHostPort(to.host, to.port)
        let reg = e.regs.get(id)
        if (!reg) e.regs.set(id, (reg = { server: to, reqId: null, sentAt: 0, tries: 0, nextAt: 0, observed: null, answeredAt: null, refused: null }))
        if (now < reg.nextAt) continue
        this.send(e, reg, to, now)
      }
    }
  }

  // A fresh signed request each time (its own nonce); unanswered ones back off 1, 2, 4 … s up to the refresh.
  private send(e: Entry, reg: Registration, to: Addr, now: number): void {
    this.reqId = this.reqId >= 0xfffffff0 ? 1 : this.reqId + 1
    reg.reqId = this.reqId
    reg.sentAt = now
    reg.tries++
    reg.nextAt = now + Math.min(TICK_MS * 2 ** Math.min(reg.tries - 1, 16), this.deps.refreshMs)
    const datagram = encodeSigned(
      { type: 'registerEndpoint', reqId: reg.reqId, key: this.deps.keyPair.publicKey, timestamp: Date.now(), nonce: randomBytes(16), sig: new Uint8Array(64) },
      this.deps.keyPair.secretKey,
    )
    this.deps.endpoint.send(datagram, to, e.socket)
    this.deps.counters.inc('interface_endpoint_registrations_sent')
  }

  private now(): number {
    return (this.deps.now ?? Date.now)()
  }
}
