// `p2pctl netcheck`: a fresh look at the network. Every broker gets a registration round trip
// (its RTT and the mapping it sees), the NAT is classified from those (protocol/nat-classify.ts),
// each interface is matched to the brokers' route, and two cheap tests run: IPv6 (did a broker
// see us over it?) and hairpinning (does our NAT deliver a packet sent to our own public address?).
import { randomBytes } from 'node:crypto'
import { encodeSigned, type WireMessage } from '../protocol/wire.js'
import { bytesEqual, type KeyPair } from '../protocol/identity.js'
import type { NatClassification } from '../protocol/nat-classify.js'
import { formatHostPort } from '../common/lifecycle.js'
import type { BrokerClient } from './broker-client.js'
import type { Endpoint } from './endpoint.js'
import type { CheckedAddress } from './interfaces.js'
import type { NetcheckInfo } from './api/types.js'
import { routeSource } from './route-source.js'

const BROKER_TIMEOUT_MS = 2_000
const HAIRPIN_TIMEOUT_MS = 700

/** Runs network checks; claim() takes the hairpin test's datagram out of the normal path. */
export class Netcheck {
  private hairpin: { nonce: Uint8Array; done: () => void } | null = null

  constructor(
    private readonly deps: {
      brokers: () => BrokerClient[]
      endpoint: Endpoint
      keyPair: KeyPair
      classify: () => NatClassification
      addresses: () => CheckedAddress[]
      /** The NAT behind an address's own endpoint (a second uplink), null when it has none. */
      endpointNat?: (address: string) => NatClassification | null
    },
  ) {}

  /** True when `msg` is the hairpin test's own probe coming back (then it is consumed). */
  claim(msg: WireMessage): boolean {
    const h = this.hairpin
    if (h === null || msg.type !== 'probe' || !bytesEqual(msg.punchNonce, h.nonce)) return false
    h.done()
    return true
  }

  /** Run every check; resolves in about BROKER_TIMEOUT_MS + HAIRPIN_TIMEOUT_MS at most. */
  async run(): Promise<NetcheckInfo> {
    const brokers = this.deps.brokers()
    const answered = await Promise.all(brokers.map((b) => b.probeNow(BROKER_TIMEOUT_MS)))
    const nat = this.deps.classify()
    const seen = brokers.map((b) => b.observed()).filter((a) => a !== null)
    const publicAddresses = [...new Set(seen.map((a) => formatHostPort(a.host, a.port)))]
    const toward = new Set((await Promise.all(brokers.map((b) => b.address()).filter((a) => a !== null).map((a) => routeSource(a.host, a.port)))).filter((h) => h !== null))
    const addresses = this.deps.addresses()
    const v4Public = seen.find((a) => !a.host.includes(':'))
    const global6 = addresses.filter((a) => a.family === 6 && !/^f[c-f]/i.test(a.address)).map((a) => a.address)
    return {
      brokers: brokers.map((b, i) => {
        const info = b.info()
        return { address: info.address, reachable: answered[i]!, rttMs: answered[i] ? info.rttMs : null, publicAddress: info.publicAddress }
      }),
      nat: { ...nat, publicAddresses, hairpin: v4Public ? await this.hairpinTest(v4Public) : 'unknown' },
      interfaces: addresses.map((a) => {
        // An address with an endpoint of its own reaches the brokers through its own NAT.
        const own = this.deps.endpointNat?.(a.address) ?? null
        const via = toward.has(a.address) || own !== null
        const n = own ?? nat
        return { name: a.name, address: a.address, family: a.family, inUse: a.usable, towardBrokers: via, mapping: via ? n.mapping : null, allocation: via ? n.allocation : null }
      }),
      ipv6: global6.length === 0
        ? { reachable: 'unknown', addresses: [], reason: 'no global IPv6 address on any interface' }
        : seen.some((a) => a.host.includes(':'))
          ? { reachable: 'yes', addresses: global6, reason: 'a broker saw us over IPv6' }
          : { reachable: 'unknown', addresses: global6, reason: 'no broker answered over IPv6, so it could not be tested' },
    }
  }

  // From a throwaway socket, send a datagram to the main socket's public mapping: a NAT that
  // hairpins delivers it back to us. One test at a time (the hairpin slot is shared).
  private async hairpinTest(target: { host: string; port: number }): Promise<'yes' | 'no' | 'unknown'> {
    if (this.hairpin !== null) return 'unknown'
    let socket
    try {
      socket = this.deps.endpoint.openSocket()
    } catch {
      return 'unknown'
    }
    const nonce = randomBytes(32)
    try {
      return await new Promise<'yes' | 'no'>((resolve) => {
        const t = setTimeout(() => resolve('no'), HAIRPIN_TIMEOUT_MS)
        this.hairpin = { nonce, done: () => {
          clearTimeout(t)
          resolve('yes')
        } }
        const probe = encodeSigned({ type: 'probe', punchNonce: nonce, key: this.deps.keyPair.publicKey, streamId: 0, seq: 0, addr: { ...target, family: 4 }, sig: new Uint8Array(64) }, this.deps.keyPair.secretKey)
        this.deps.endpoint.send(probe, target, socket)
      })
    } finally {
      this.hairpin = null
      this.deps.endpoint.release(socket)
    }
  }
}
