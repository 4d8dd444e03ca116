// Interface endpoints against a real broker on loopback: an address off the default route's
// interface gets a socket of its own, registers it with REGISTER_ENDPOINT, and the broker's
// introductions carry it; when the address goes, so does the socket. 127.0.0.2 stands in for a
// second uplink's address (every 127/8 address is local on Linux).
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { Client, closeClients, nextReqId, startBroker, stopAll, type BrokerProcess } from '../helpers/broker-harness.js'
import { waitFor } from '../helpers/wait-for.js'
import { Endpoint } from '../../daemon/endpoint.js'
import { Counters } from '../../daemon/counters.js'
import { InterfaceEndpoints } from '../../daemon/interface-endpoints.js'
import type { LocalAddress } from '../../daemon/interface-filter.js'
import { createLogger } from '../../common/logger.js'

const logger = createLogger({ name: 'test', level: 'silent' })
let broker: BrokerProcess | null = null
const endpoints: Endpoint[] = []

afterEach(async () => {
  for (const e of endpoints.splice(0)) await e.close()
  closeClients()
})
afterAll(stopAll)

// The endpoints speak for alice's key, as a daemon's do for its own.
async function setup(brokerPort: number, addresses: LocalAddress[]): Promise<{ ep: Endpoint; ifs: InterfaceEndpoints; counters: Counters; clock: { offset: number }; alice: Client }> {
  const alice = await Client.open(brokerPort)
  const counters = new Counters()
  const ep = new Endpoint({ logger, counters })
  ep.bind(0, '127.0.0.1')
  endpoints.push(ep)
  const clock = { offset: 0 }
  const ifs = new InterfaceEndpoints({
    endpoint: ep, keyPair: alice.kp, brokers: () => [{ resolvedAddress: () => ({ host: '127.0.0.1', port: brokerPort }), registered: true }],
    usable: () => addresses, routeSource: async () => '127.0.0.1', refreshMs: 25_000, logger, counters, now: () => Date.now() + clock.offset,
  })
  // What the daemon does with a broker's answer on an interface socket.
  ep.onDatagram((msg, _raw, from, socket) => void ifs.handle(msg, from, socket))
  return { ep, ifs, counters, clock, alice }
}

describe('interface endpoints', () => {
  it('opens a socket on an address off the default interface, registers it, and the broker introduces peers to it; closes it when the address goes', async () => {
    broker = await startBroker()
    const addresses: LocalAddress[] = [{ name: 'lo', address: '127.0.0.1', family: 4 }, { name: 'uplink2', address: '127.0.0.2', family: 4 }]
    const s = await setup(broker.udpPort, addresses)
    const alice = s.alice
    // Her main registration comes first, as the daemon's does.
    expect(await alice.register('alice')).toMatchObject({ type: 'registered' })
    await s.ifs.sync()
    // The main interface (the default route's) has no socket of its own: the main socket serves it.
    expect([...s.ep.interfaceSockets().keys()]).toEqual(['127.0.0.2'])
    const port = s.ep.interfaceSockets().get('127.0.0.2')!.address().port
    s.ifs.start()
    try {
      const [info] = await waitFor(() => (s.ifs.list()[0]?.public ? s.ifs.list() : null), { timeoutMs: 5_000, what: 'the broker to answer REGISTER_ENDPOINT' })
      expect(info).toEqual({ address: '127.0.0.2', local: { host: '127.0.0.2', port }, public: { host: '127.0.0.2', port }, note: null })
      expect(s.ifs.sockets(4)).toHaveLength(1)
      expect(s.ifs.sockets(6)).toHaveLength(0)
      // Bob is introduced to alice: her second endpoint is a candidate, right after her main one.
      const bob = await Client.open(broker.udpPort)
      await bob.register('bob')
      const reqId = nextReqId()
      const intro = await bob.request(bob.connectBytes('alice', reqId), reqId, 'introduction to alice')
      expect(intro.type === 'introduce' && intro.candidates.slice(0, 2).map((c) => `${c.host}:${c.port}`)).toEqual([`127.0.0.1:${alice.port}`, `127.0.0.2:${port}`])
      // The address goes away: its socket closes.
      addresses.pop()
      await s.ifs.sync()
      expect(s.ifs.list()).toEqual([])
      expect(s.ep.interfaceSockets().size).toBe(0)
    } finally {
      s.ifs.stop()
    }
  })

  it('says why an endpoint has no public mapping when no broker answers through it', async () => {
    broker ??= await startBroker()
    // A port nobody listens on: the registration is never answered.
    const s = await setup(1, [{ name: 'lo', address: '127.0.0.1', family: 4 }, { name: 'uplink2', address: '127.0.0.2', family: 4 }])
    await s.ifs.sync()
    expect(s.ifs.list()[0]).toMatchObject({ public: null, note: 'registering with the brokers' })
    s.clock.offset = 6_000
    expect(s.ifs.list()[0]!.note).toMatch(/^no broker answered through 127\.0\.0\.2: the host must route packets from it out of uplink2 \(source routing/)
    expect(s.counters.get('interface_endpoint_registrations_sent')).toBeGreaterThan(0)
  })
})
