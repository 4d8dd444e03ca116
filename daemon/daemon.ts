// The daemon: composes the endpoint, brokers, connector, peers, forwards and exposes, and offers
// them to the control API as DaemonApi.
import { EventEmitter } from 'node:events'
import { keyToHex, type KeyPair } from '../protocol/identity.js'
import { DEFAULT_PUNCH, type Addr } from '../protocol/punch.js'
import type { NatMapping, RelayAllocated } from '../protocol/wire.js'
import { classifyNat, type NatClassification } from '../protocol/nat-classify.js'
import { Netcheck } from './netcheck.js'
import { formatHostPort, normalizeHost } from '../common/lifecycle.js'
import { AppError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { AddExposeRequest, AddForwardRequest, DaemonApi, DaemonEvent, ExposeInfo, ForwardInfo, InterfaceInfo, NetcheckInfo, PeerInfo, PeerPipe, StatusInfo } from './api/types.js'
import { DatagramChannel } from './datagram-channel.js'
import { BrokerClient } from './broker-client.js'
import { Connector } from './connector.js'
import { RelayClient } from './relay-client.js'
import { Counters } from './counters.js'
import { Endpoint } from './endpoint.js'
import { Exposes } from './exposes.js'
import { Forwards } from './forwards.js'
import { InterfaceFilter } from './interface-filter.js'
import { LocalInterfaces } from './interfaces.js'
import { InterfaceEndpoints } from './interface-endpoints.js'
import { interfaceList } from './interface-list.js'
import { routeSource } from './route-source.js'
import type { DaemonMetrics } from './metrics.js'
import { PeerManager } from './peers.js'
import { PathRoutes } from './path-routes.js'
import type { State, StateStore } from './state-store.js'
import { TcpEndpoint } from './tcp/endpoint.js'
import { TcpPaths } from './tcp/path.js'

const INTERFACE_POLL_MS = 2_000

/** Resolved daemon settings. */
export interface DaemonOptions {
  name: string
  brokers: { host: string; port: number }[]
  port: number
  /** Registration refresh / keepalive interval, ms (well inside the NAT's UDP timeout). */
  keepaliveMs: number
  version: string
  /** interfaces_allow / interfaces_deny rules (validated by the config). */
  interfacesAllow?: string[]
  interfacesDeny?: string[]
  /** Try kernel TCP paths next to the UDP one (default true). */
  tcp?: boolean
}

/** The running daemon. */
export class Daemon implements DaemonApi {
  readonly counters = new Counters()
  readonly endpoint: Endpoint
  private readonly events = new EventEmitter()
  // prom-client (and what it pulls in) loads on the first scrape, not in every idle daemon; punch
  // stages are counted from the start all the same.
  private metricsView: Promise<DaemonMetrics> | null = null
  private readonly punchStages = new Map<string, number>()
  private brokers: BrokerClient[]
  private readonly emit: (e: DaemonEvent) => void
  private readonly connector: Connector
  private readonly pathRoutes: PathRoutes
  private readonly relayClient: RelayClient
  private readonly tcpEndpoint: TcpEndpoint | null
  private readonly peerManager: PeerManager
  private readonly forwardSet: Forwards
  private readonly exposeSet: Exposes
  private readonly startedAt = Date.now()
  private readonly keyHex: string
  private ifaceTimer: NodeJS.Timeout | null = null
  private announcedNat: NatMapping = 'unknown'
  private readonly localIfaces: LocalInterfaces
  private readonly ifaceEndpoints: InterfaceEndpoints
  private readonly netchecker: Netcheck

  constructor(
    private readonly opts: DaemonOptions,
    private readonly deps: { keyPair: KeyPair; state: State; store: StateStore; logger: Logger },
  ) {
    this.keyHex = keyToHex(deps.keyPair.publicKey)
    this.events.setMaxListeners(0)
    const log = deps.logger
    const save = (): Promise<void> => deps.store.save(deps.state).catch((err: unknown) => log.error({ err }, 'could not save state'))
    const emit = (e: DaemonEvent): void => {
      if (e.type === 'punch') this.punchStages.set(e.stage, (this.punchStages.get(e.stage) ?? 0) + 1)
      this.events.emit('event', e)
    }
    this.emit = emit
    this.localIfaces = new LocalInterfaces({ filter: new InterfaceFilter(opts.interfacesAllow, opts.interfacesDeny), logger: log.child({ component: 'interfaces' }) })
    this.endpoint = new Endpoint({ logger: log.child({ component: 'endpoint' }), counters: this.counters })
    this.ifaceEndpoints = new InterfaceEndpoints({
      endpoint: this.endpoint, keyPair: deps.keyPair, brokers: () => this.brokers, usable: () => [...this.localIfaces.usable(4), ...this.localIfaces.usable(6)],
      routeSource, refreshMs: opts.keepaliveMs, logger: log.child({ component: 'interfaces' }), counters: this.counters,
    })
    this.netchecker = new Netcheck({ brokers: () => this.brokers, endpoint: this.endpoint, keyPair: deps.keyPair, classify: () => this.natClassification(), addresses: () => this.localIfaces.addresses(), endpointNat: (a) => this.ifaceEndpoints.classification(a) })
    this.relayClient = new RelayClient({ endpoint: this.endpoint, keyPair: deps.keyPair, logger: log.child({ component: 'relay' }), counters: this.counters })
    this.connector = new Connector({
      endpoint: this.endpoint, keyPair: deps.keyPair, punch: DEFAULT_PUNCH, logger: log.child({ component: 'punch' }), counters: this.counters,
      allowPath: (remote) => this.allowPath(remote), relay: this.relayClient, nat: () => this.natMapping(), probeSockets: (family) => this.ifaceEndpoints.sockets(family),
    })
    this.pathRoutes = new PathRoutes({ counters: this.counters })
    this.tcpEndpoint = opts.tcp === false ? null : new TcpEndpoint({ logger: log.child({ component: 'tcp' }), counters: this.counters, hosts: () => [...this.localIfaces.usable(4), ...this.localIfaces.usable(6)] })
    const tcp = this.tcpEndpoint && new TcpPaths({
      endpoint: this.tcpEndpoint, keyPair: deps.keyPair, brokers: () => this.brokers.map((b) => b.resolvedAddress()).filter((a): a is Addr => a !== null), allowPath: (remote) => this.allowPath(remote),
      logger: log.child({ component: 'tcp' }), counters: this.counters,
    })
    this.exposeSet = new Exposes({ rules: deps.state.exposes, save, peers: () => this.peerManager, selfName: opts.name, emit, logger: log.child({ component: 'exposes' }), counters: this.counters })
    this.peerManager = new PeerManager({
      endpoint: this.endpoint, keyPair: deps.keyPair, name: opts.name, version: opts.version, brokers: () => this.brokers,
      connector: this.connector, tcp, pins: deps.state.peers, savePins: save, onOpen: (s, r) => this.exposeSet.onOpen(s, r), onCheck: (s, r) => this.exposeSet.onCheck(s, r), emit,
      logger: log.child({ component: 'peers' }), counters: this.counters, pathRoutes: this.pathRoutes, allowPath: (remote) => this.allowPath(remote),
      askRelay: async (broker, intro) => {
        const m = await broker.relay(intro.peerKey, intro.punchNonce)
        const addr = this.relayAddress(m, broker)
        if (!addr) throw new AppError('BROKER_ERROR', `broker ${broker.info().address} offered a relay at ${m.relay.host}, which is none of our brokers' addresses`)
        return addr
      },
    })
    this.forwardSet = new Forwards({ specs: deps.state.forwards, save, peers: () => this.peerManager, emit, logger: log.child({ component: 'forwards' }), counters: this.counters })
    this.brokers = opts.brokers.map((address) => this.makeBroker(address))
    this.endpoint.onDatagram((msg, raw, from, socket) => {
      switch (msg.type) {
        case 'probe':
        case 'probeAck':
          if (this.netchecker.claim(msg)) return
          // A running punch first; else a live session's own probes (standbys, a move); else counted.
          if (this.connector.has(msg.punchNonce) || !this.pathRoutes.claim(msg, raw, from, socket)) this.connector.handleProbe(msg, raw, from, socket)
          return
        case 'relayBound':
          this.relayClient.handleBound(msg, from)
          return
        case 'registered':
        case 'introduce':
        case 'relayAllocated':
        case 'error': {
          // Brokers are spoken to from the main socket, and from interface sockets for their own registrations.
          const broker = socket === this.endpoint.socket ? this.brokers.find((x) => x.owns(from)) : undefined
          if (broker) broker.handle(msg)
          else if (socket === this.endpoint.socket || !this.ifaceEndpoints.handle(msg, from, socket)) this.counters.inc('udp_dropped_not_from_broker')
          return
        }
        default:
          this.counters.inc(`udp_dropped_unexpected_${msg.type}`)
      }
    })
  }

  /** Bind the socket, register with brokers, restore forwards. */
  async start(): Promise<void> {
    this.endpoint.bind(this.opts.port)
    // TCP listener on the UDP port's number when it is free (separate port spaces).
    await this.tcpEndpoint?.start(this.endpoint.address().port)
    for (const b of this.brokers) b.start()
    this.ifaceEndpoints.start()
    void this.ifaceEndpoints.sync()
    this.watchInterfaces()
    await this.forwardSet.restore()
  }

  /** Apply new interfaces_allow/deny rules (SIGHUP); the interface poll announces the result. */
  setInterfaceRules(allow: string[], deny: string[]): void {
    this.localIfaces.setFilter(new InterfaceFilter(allow, deny))
  }

  /** Apply a new broker list (SIGHUP): keep the ones still listed, drop the others, add the new. */
  setBrokers(addresses: { host: string; port: number }[]): void {
    const key = (a: { host: string; port: number }): string => formatHostPort(a.host, a.port)
    const wanted = new Set(addresses.map(key))
    for (const b of this.brokers) if (!wanted.has(b.info().address)) b.stop()
    const kept = this.brokers.filter((b) => wanted.has(b.info().address))
    const have = new Set(kept.map((b) => b.info().address))
    const added = addresses.filter((a) => !have.has(key(a))).map((a) => this.makeBroker(a))
    this.brokers = [...kept, ...added]
    for (const b of added) b.start()
  }

  private makeBroker(address: { host: string; port: number }): BrokerClient {
    const label = formatHostPort(address.host, address.port)
    const b = new BrokerClient({ address, endpoint: this.endpoint, keyPair: this.deps.keyPair, name: this.opts.name, hosts: () => this.hostCandidates(), nat: () => this.natMapping(), refreshMs: this.opts.keepaliveMs, logger: this.deps.logger.child({ component: 'broker', broker: label }) })
    b.on('change', (info) => this.emit({ type: 'broker', broker: info }))
    // A stall or an interface change refreshes the main registration: the other endpoints too.
    b.on('refresh', () => this.ifaceEndpoints.refreshNow())
    // Its first answer tells which interface reaches it (the main socket's): sort the endpoints again.
    b.once('registered', () => void this.ifaceEndpoints.sync())
    b.on('registered', () => {
      this.counters.inc('broker_registrations')
      // The classification needs two brokers' answers; once it changes, tell every broker now so
      // that introductions carry it (peers plan many-port probing or a relay from it).
      const nat = this.natMapping()
      if (nat !== this.announcedNat) {
        this.announcedNat = nat
        for (const other of this.brokers) other.refreshNow()
      }
    })
    b.on('refused', (r: { code: string; message: string }) => this.emit({ type: 'error', code: 'BROKER_ERROR', message: `broker ${label} refused our registration: ${r.code} ${r.message}` }))
    b.on('introduce', (intro) => this.peerManager.onIntroduce(intro))
    // The other side asked for a relay for an introduction of ours: punch through it too.
    b.on('relayAllocated', (m: RelayAllocated) => {
      const addr = this.relayAddress(m, b)
      if (addr) this.connector.onRelayAllocated(m.punchNonce, addr)
      else this.counters.inc('relay_offers_refused')
    })
    return b
  }

  // Interfaces come and go (Wi-Fi, VPN, DHCP): when our addresses change, re-register at once so
  // new introductions carry them, instead of at the next refresh.
  private watchInterfaces(): void {
    let last = this.addressKey()
    this.ifaceTimer = setInterval(() => {
      const now = this.addressKey()
      if (now === last) return
      last = now
      this.counters.inc('interface_changes')
      this.deps.logger.info({ addresses: now }, 'interface addresses changed; re-registering')
      void this.ifaceEndpoints.sync()
      for (const b of this.brokers) b.refreshNow()
      // Live sessions learn them too: no introduction would tell the peer before the next punch.
      this.peerManager.announce(this.hostCandidates())
    }, INTERFACE_POLL_MS)
    this.ifaceTimer.unref()
  }

  private addressKey(): string {
    return this.hostCandidates().map((a) => a.host).sort().join(',')
  }

  /** Stop everything; resolves when sockets are closed. */
  async stop(): Promise<void> {
    if (this.ifaceTimer) clearInterval(this.ifaceTimer)
    this.ifaceEndpoints.stop()
    for (const b of this.brokers) b.stop()
    this.connector.stop()
    this.relayClient.stop()
    await this.forwardSet.closeAll()
    this.peerManager.closeAll()
    // A forward or expose added just before the signal must still be there after a restart.
    await this.deps.store.flush()
    await this.tcpEndpoint?.close()
    await Promise.race([this.endpoint.close(), new Promise((r) => setTimeout(r, 1000).unref())])
  }

  status(): StatusInfo {
    const publicAddresses = [...new Set(this.brokers.map((b) => b.info().publicAddress).filter((a): a is string => a !== null))]
    return {
      name: this.opts.name, key: this.keyHex, version: this.opts.version, uptimeS: Math.floor((Date.now() - this.startedAt) / 1000),
      brokers: this.brokers.map((b) => b.info()),
      nat: { ...this.natClassification(), publicAddresses },
      interfaces: this.interfaceList(), peers: this.peers(), forwards: this.forwards(),
    }
  }

  id(): { name: string; key: string } {
    return { name: this.opts.name, key: this.keyHex }
  }

  async interfaces(): Promise<InterfaceInfo[]> {
    await this.localIfaces.metadata()
    return this.interfaceList()
  }

  // Every non-internal address; metadata is whatever was last loaded (status stays synchronous).
  private interfaceList(): InterfaceInfo[] {
    return interfaceList({
      addresses: this.localIfaces.addresses(), meta: this.localIfaces.cachedMetadata(), own: this.ifaceEndpoints.list(), peers: this.peers(),
      mainPort: this.endpoint.address().port, dualStack: this.endpoint.dualStack, mainPublic: this.brokers.map((b) => b.info().publicAddress).find((a) => a !== null) ?? null,
    })
  }

  peers(): PeerInfo[] {
    return this.peerManager.list()
  }

  addPeer(name: string, key: string): PeerInfo {
    return this.peerManager.add(name, key)
  }

  removePeer(peer: string): void {
    this.peerManager.remove(peer)
  }

  async connect(peer: string): Promise<PeerInfo> {
    const s = await this.peerManager.connect(peer)
    return this.peerManager.info(s.remoteKeyHex)
  }

  async ping(peer: string): Promise<{ rttMs: number; path: NonNullable<PeerInfo['path']> }> {
    const s = await this.peerManager.session(peer)
    const rttMs = await s.ping()
    const info = this.peerManager.info(s.remoteKeyHex)
    return { rttMs: Math.round(rttMs * 1000) / 1000, path: info.path! }
  }

  addForward(req: AddForwardRequest): Promise<ForwardInfo> {
    return this.forwardSet.add(req)
  }

  forwards(): ForwardInfo[] {
    return this.forwardSet.list()
  }

  removeForward(idOrPort: string): Promise<void> {
    return this.forwardSet.remove(idOrPort)
  }

  addExpose(req: AddExposeRequest): ExposeInfo {
    return this.exposeSet.add(req)
  }

  exposes(): ExposeInfo[] {
    return this.exposeSet.list()
  }

  removeExpose(id: string): void {
    this.exposeSet.remove(id)
  }

  async openPipe(peer: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<PeerPipe> {
    const session = await this.peerManager.session(peer)
    if (proto === 'tcp') return { proto, stream: await session.open('tcp', host, port) }
    const stream = await session.open('udp', host, port)
    const ch = new DatagramChannel(stream)
    return {
      proto,
      get maxPayload() {
        return ch.maxPayload
      },
      send: (d) => ch.send(d),
      onDatagram: (fn) => void ch.on('datagram', fn),
      onClose: (fn) => void ch.on('close', fn),
      close: () => ch.close(),
    }
  }

  netcheck(): Promise<NetcheckInfo> {
    return this.netchecker.run()
  }

  async metrics(): Promise<{ contentType: string; text: string }> {
    this.metricsView ??= import('./metrics.js').then((m) => new m.DaemonMetrics({ api: this, counters: () => this.counters.toJSON(), stages: this.punchStages }))
    const view = await this.metricsView
    return { contentType: view.contentType, text: await view.render() }
  }

  subscribe(listener: (event: DaemonEvent) => void): () => void {
    this.events.on('event', listener)
    return () => this.events.off('event', listener)
  }

  /** Our interface addresses with our port: host candidates for the brokers to pass on. */
  private hostCandidates(): Addr[] {
    const port = this.endpoint.address().port
    // IPv4 first: a peer without IPv6 loses nothing when the list is cut at 15.
    const v6 = this.endpoint.dualStack ? this.localIfaces.usable(6) : []
    return [...this.localIfaces.usable(4), ...v6].map((a) => ({ host: a.address, port })).slice(0, 15)
  }

  // The endpoint binds 0.0.0.0, so the kernel picks the egress: a path is usable when the address
  // the kernel would send from is not one that interfaces_allow/deny excludes.
  private async allowPath(remote: Addr): Promise<boolean> {
    const src = await routeSource(remote.host, remote.port)
    const local = src === null ? undefined : this.localIfaces.addresses().find((a) => a.address === src)
    return local === undefined || local.usable
  }

  // Where a RELAY_ALLOCATED points: an unspecified host means the broker it came from. A relay
  // elsewhere is refused: a broker must not aim our probes at arbitrary hosts.
  private relayAddress(m: RelayAllocated, from: BrokerClient): Addr | null {
    const own = from.address()
    const host = normalizeHost(m.relay.host)
    if (own === null || m.relay.port === 0) return null
    if (host === '0.0.0.0' || host === '0:0:0:0:0:0:0:0' || host === '::') return { host: own.host, port: m.relay.port }
    return this.brokers.some((b) => b.address()?.host === host) ? { host, port: m.relay.port } : null
  }

  private natMapping(): NatMapping {
    return this.natClassification().mapping
  }

  /** Our NAT's mapping behaviour and allocation pattern, from what the brokers observed. */
  natClassification(): NatClassification {
    const port = this.endpoint.address().port
    const seen = this.brokers.map((b) => b.observation()).filter((o) => o !== null)
    return classifyNat(seen.map((o) => ({ server: o.server, localPort: port, observed: o.observed, at: o.since })), this.hostCandidates().map((h) => h.host))
  }
}

