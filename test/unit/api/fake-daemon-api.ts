// A pure in-memory DaemonApi for API and CLI tests: it records calls and returns fixed data, and
// lets a test make any method throw or emit events.
import { AppError } from '../../../common/errors.js'
import type {
  AddExposeRequest, AddForwardRequest, DaemonApi, DaemonEvent, ExposeInfo, ForwardInfo, InterfaceInfo, NetcheckInfo, PeerInfo, StatusInfo,
} from '../../../daemon/api/types.js'

/** The key used for the fake's own identity. */
export const ALICE_KEY = 'a'.repeat(64)
/** The key of the fake's one known peer, bob. */
export const BOB_KEY = 'b'.repeat(64)

/** A fake core: fixed data plus a call log, `fail` to inject errors, `emit` for events. */
export class FakeDaemonApi implements DaemonApi {
  readonly calls: Array<{ method: string; args: unknown[] }> = []
  /** Method name -> error that method throws next (and every time after). */
  readonly fail = new Map<string, Error>()
  readonly listeners = new Set<(e: DaemonEvent) => void>()
  peerList: PeerInfo[] = [{
    name: 'bob', key: BOB_KEY, state: 'connected', lastError: null,
    path: { kind: 'direct', proto: 'udp', local: '192.168.1.2:4000', remote: '203.0.113.7:5000', rttMs: 1.5 },
  }]
  forwardList: ForwardInfo[] = [{ id: 'f1', proto: 'tcp', bind: '127.0.0.1:8080', peer: 'bob', to: 'localhost:8080', connections: 2, bytesIn: 10, bytesOut: 20 }]
  exposeList: ExposeInfo[] = [{ id: 'e1', proto: 'tcp', target: 'localhost:22', peer: 'bob' }]
  ifaceList: InterfaceInfo[] = [{ name: 'eth0', address: '192.168.1.2', family: 4, endpoint: '192.168.1.2:4000', public: '203.0.113.2:4000', ownEndpoint: false, note: null, inUse: true, reason: null, activePaths: 1, type: 'wired', virtual: false, operstate: 'up' }]

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args })
    const err = this.fail.get(method)
    if (err) throw err
  }

  /** Send an event to every subscriber. */
  emit(event: DaemonEvent): void {
    for (const l of this.listeners) l(event)
  }

  status(): StatusInfo {
    this.record('status')
    return {
      ...this.id(), version: '0.1.0', uptimeS: 42,
      brokers: [{ address: 'broker.example:7000', state: 'registered', rttMs: 12.5, publicAddress: '203.0.113.2:4000' }],
      nat: { mapping: 'endpoint-independent', allocation: 'port-preserving', publicAddresses: ['203.0.113.2'] },
      interfaces: this.ifaceList, peers: this.peerList, forwards: this.forwardList,
    }
  }

  id(): { name: string; key: string } {
    return { name: 'alice', key: ALICE_KEY }
  }

  async netcheck(): Promise<NetcheckInfo> {
    this.record('netcheck')
    return {
      brokers: [{ address: 'broker.example:7000', reachable: true, rttMs: 12.5, publicAddress: '203.0.113.2:4000' }, { address: 'broker2.example:7000', reachable: false, rttMs: null, publicAddress: null }],
      nat: { mapping: 'endpoint-dependent', allocation: 'sequential', publicAddresses: ['203.0.113.2:4000'], hairpin: 'no' },
      interfaces: [{ name: 'eth0', address: '192.168.1.10', family: 4, inUse: true, towardBrokers: true, mapping: 'endpoint-dependent', allocation: 'sequential' }],
      ipv6: { reachable: 'unknown', addresses: [], reason: 'no global IPv6 address on any interface' },
    }
  }

  async interfaces(): Promise<InterfaceInfo[]> {
    this.record('interfaces')
    return this.ifaceList
  }

  peers(): PeerInfo[] {
    this.record('peers')
    return this.peerList
  }

  addPeer(name: string, key: string): PeerInfo {
    this.record('addPeer', name, key)
    if (this.peerList.some((p) => p.name === name)) throw new AppError('PEER_NAME_TAKEN', `the name ${name} is already pinned`, `p2pctl peer remove ${name}`)
    const peer: PeerInfo = { name, key, state: 'idle', path: null, lastError: null }
    this.peerList.push(peer)
    return peer
  }

  removePeer(peer: string): void {
    this.record('removePeer', peer)
    const before = this.peerList.length
    this.peerList = this.peerList.filter((p) => p.name !== peer && p.key !== peer)
    if (this.peerList.length === before) throw new AppError('PEER_UNKNOWN', `unknown peer ${peer}`, 'see p2pctl peers')
  }

  async connect(peer: string): Promise<PeerInfo> {
    this.record('connect', peer)
    const found = this.peerList.find((p) => p.name === peer || p.key === peer)
    if (!found) throw new AppError('PEER_UNKNOWN', `unknown peer ${peer}`, `pin it first: p2pctl peer add ${peer} KEY`)
    this.emit({ type: 'punch', peer, stage: 'probing', detail: '3 candidates' })
    this.emit({ type: 'punch', peer: 'carol', stage: 'probing', detail: 'not for bob' })
    this.emit({ type: 'punch', peer, stage: 'connected', detail: 'direct udp' })
    return found
  }

  async ping(peer: string): Promise<{ rttMs: number; path: NonNullable<PeerInfo['path']> }> {
    this.record('ping', peer)
    const found = this.peerList.find((p) => p.name === peer || p.key === peer)
    if (!found?.path) throw new AppError('PEER_UNKNOWN', `unknown peer ${peer}`)
    return { rttMs: 2.25, path: found.path }
  }

  async addForward(req: AddForwardRequest): Promise<ForwardInfo> {
    this.record('addForward', req)
    const bind = `${req.bindHost ?? '127.0.0.1'}:${req.port}`
    const fwd: ForwardInfo = { id: `f${this.forwardList.length + 1}`, proto: req.proto, bind, peer: req.peer, to: `${req.toHost ?? 'localhost'}:${req.toPort ?? req.port}`, connections: 0, bytesIn: 0, bytesOut: 0 }
    this.forwardList.push(fwd)
    return fwd
  }

  forwards(): ForwardInfo[] {
    this.record('forwards')
    return this.forwardList
  }

  async removeForward(idOrPort: string): Promise<void> {
    this.record('removeForward', idOrPort)
    const before = this.forwardList.length
    this.forwardList = this.forwardList.filter((f) => f.id !== idOrPort && !f.bind.endsWith(`:${idOrPort}`))
    if (this.forwardList.length === before) throw new AppError('FORWARD_UNKNOWN', `no forward ${idOrPort}`, 'see p2pctl forwards')
  }

  addExpose(req: AddExposeRequest): ExposeInfo {
    this.record('addExpose', req)
    const exp: ExposeInfo = { id: `e${this.exposeList.length + 1}`, proto: req.proto, target: `${req.host ?? 'localhost'}:${req.port}`, peer: req.peer }
    this.exposeList.push(exp)
    return exp
  }

  exposes(): ExposeInfo[] {
    this.record('exposes')
    return this.exposeList
  }

  removeExpose(id: string): void {
    this.record('removeExpose', id)
    const before = this.exposeList.length
    this.exposeList = this.exposeList.filter((e) => e.id !== id)
    if (this.exposeList.length === before) throw new AppError('EXPOSE_UNKNOWN', `no expose rule ${id}`, 'see p2pctl exposes')
  }

  subscribe(listener: (event: DaemonEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
