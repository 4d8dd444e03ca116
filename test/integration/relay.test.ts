// The broker's relay over real UDP on 127.0.0.1 (hence --relay-allow-private): allocation for an
// introduced pair, binds, forwarding byte for byte between the two bound addresses only, and the
// refusals (relaying off, loopback without the flag, strangers, replayed binds).
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { BrokerErrorCode, type Introduce, type RelayAllocated, type WireMessage } from '../../protocol/wire.js'
import { Client, closeClients, errorOf, getJson, nextReqId, startBroker, stopAll } from '../helpers/broker-harness.js'
import { waitFor } from '../helpers/wait-for.js'
import type { RelayStats } from '../../broker/relay.js'

afterEach(closeClients)
afterAll(stopAll)

async function pair(udpPort: number): Promise<{ alice: Client; bob: Client; intro: Introduce }> {
  const alice = await Client.open(udpPort)
  const bob = await Client.open(udpPort)
  await alice.register('')
  await bob.register('')
  const reqId = nextReqId()
  const intro = await alice.request(alice.connectBytes(bob.kp.publicKey, reqId), reqId, 'introduction') as Introduce
  return { alice, bob, intro }
}

const relayStats = async (httpPort: number): Promise<RelayStats> => (await getJson<{ relay: RelayStats }>(httpPort, '/stats')).body.relay

describe('p2p-broker relay', () => {
  it('allocates one relay per introduction, tells both sides, and forwards only between the bound pair', async () => {
    const broker = await startBroker(['--relay-allow-private', '--rate-limit', '100000'])
    const { alice, bob, intro } = await pair(broker.udpPort)
    const reqId = nextReqId()
    const alloc = await alice.request(alice.relayRequestBytes(bob.kp.publicKey, intro.punchNonce, reqId), reqId, 'relay allocation') as RelayAllocated
    expect(alloc).toMatchObject({ type: 'relayAllocated', reqId, relay: { host: '127.0.0.1' }, lifetimeS: 3600, rateBytesPerS: 8 * 1024 * 1024 })
    const pushed = await waitFor(() => bob.received.find((r) => r.msg.type === 'relayAllocated')?.msg as RelayAllocated | undefined, { what: 'allocation pushed to bob' })
    expect(pushed).toMatchObject({ reqId: 0, relay: alloc.relay })
    // Bob asking again for the same introduction gets the same relay.
    const again = nextReqId()
    expect(await bob.request(bob.relayRequestBytes(alice.kp.publicKey, intro.punchNonce, again), again, 'same relay')).toMatchObject({ relay: alloc.relay })
    const port = alloc.relay.port
    const bound = (c: Client, peerBound: boolean) => waitFor(() => c.received.some((r) => r.msg.type === 'relayBound' && r.msg.peerBound === peerBound), { what: `${peerBound ? 'peer ' : ''}bound` })
    await alice.sendTo(alice.relayBindBytes(intro.punchNonce), port)
    await bound(alice, false)
    await bob.sendTo(bob.relayBindBytes(intro.punchNonce), port)
    await bound(bob, true)
    await bound(alice, true)
    // Opaque bytes (a UDX packet starts with 0xff) go through unchanged, both ways.
    const packet = Uint8Array.from([0xff, 1, 2, 3, 4, 5, 6, 7])
    const before = bob.raw.length
    await alice.sendTo(packet, port)
    const got = await waitFor(() => bob.raw.slice(before).find((b) => b[0] === 0xff), { what: 'forwarded to bob' })
    expect(Buffer.from(got).equals(Buffer.from(packet))).toBe(true)
    await bob.sendTo(Uint8Array.from([0xff, 9]), port)
    await waitFor(() => alice.raw.some((b) => b[0] === 0xff && b[1] === 9), { what: 'forwarded to alice' })
    // A stranger's datagrams, and a bind replayed from the stranger's address, go nowhere.
    const stranger = await Client.open(broker.udpPort)
    await stranger.sendTo(Uint8Array.from([0xff, 0xee]), port)
    const aliceBind = alice.relayBindBytes(intro.punchNonce)
    await alice.sendTo(aliceBind, port)
    await stranger.sendTo(aliceBind, port)
    await stranger.sendTo(stranger.relayBindBytes(intro.punchNonce), port)
    const stats = await waitFor(async () => {
      const s = await relayStats(broker.httpPort)
      return (s.dropped.UNBOUND_SOURCE ?? 0) >= 1 && (s.dropped.BIND_REPLAYED ?? 0) >= 1 && (s.dropped.BIND_UNKNOWN_KEY ?? 0) >= 1 ? s : null
    }, { what: 'stranger traffic dropped and counted' })
    expect(stats).toMatchObject({ allocations: 1, allocationsMade: 1, packets: 2, bytes: 10 })
    await bob.sendTo(Uint8Array.from([0xff, 10]), port)
    await waitFor(() => alice.raw.some((b) => b[0] === 0xff && b[1] === 10), { what: 'alice still bound at her own address' })
    expect(stranger.raw.some((b) => b[0] === 0xff)).toBe(false)
  })

  it('refuses loopback peers without --relay-allow-private, everything with --no-relay, and pairs it did not introduce', async () => {
    const strict = await startBroker(['--rate-limit', '100000'])
    const s = await pair(strict.udpPort)
    const r1 = nextReqId()
    const refused = errorOf(await s.alice.request(s.alice.relayRequestBytes(s.bob.kp.publicKey, s.intro.punchNonce, r1), r1, 'refusal') as WireMessage)
    expect(refused).toMatchObject({ code: BrokerErrorCode.RELAY_UNAVAILABLE, message: expect.stringContaining('loopback') })
    const off = await startBroker(['--no-relay'])
    const o = await pair(off.udpPort)
    const r2 = nextReqId()
    expect(errorOf(await o.alice.request(o.alice.relayRequestBytes(o.bob.kp.publicKey, o.intro.punchNonce, r2), r2, 'off'))).toMatchObject({ code: BrokerErrorCode.RELAY_UNAVAILABLE, message: expect.stringContaining('off') })
    expect((await getJson<{ relay: unknown }>(off.httpPort, '/stats')).body.relay).toBeNull()
    const r3 = nextReqId()
    const carol = await Client.open(strict.udpPort)
    await carol.register('')
    expect(errorOf(await carol.request(carol.relayRequestBytes(s.bob.kp.publicKey, s.intro.punchNonce, r3), r3, 'stranger'))).toMatchObject({ code: BrokerErrorCode.BAD_REQUEST })
  })
})
