// The connector on a real loopback socket: probe verification stays within its budget under a
// flood, and a many-port run opens its sockets and closes all but the one a session keeps.
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { Connector } from '../../../daemon/connector.js'
import { Counters } from '../../../daemon/counters.js'
import { Endpoint } from '../../../daemon/endpoint.js'
import { ManyPortRun } from '../../../daemon/many-port.js'
import { createLogger } from '../../../common/logger.js'
import { keyPairFromSeed } from '../../../protocol/identity.js'
import { DEFAULT_MANY_PORT } from '../../../protocol/birthday.js'
import { DEFAULT_PUNCH } from '../../../protocol/punch.js'
import { decodeMessage, encodeSigned, type Introduce, type Probe } from '../../../protocol/wire.js'
import { waitFor } from '../../helpers/wait-for.js'

const logger = createLogger({ level: 'silent', name: 'test' })
const self = keyPairFromSeed(new Uint8Array(32).fill(1))
const peer = keyPairFromSeed(new Uint8Array(32).fill(2))
const endpoints: Endpoint[] = []

function endpoint(counters: Counters): Endpoint {
  const e = new Endpoint({ logger, counters })
  e.bind(0, '127.0.0.1')
  endpoints.push(e)
  return e
}

afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()))
})

describe('connector probe budget', () => {
  it('verifies at most a burst of probes per attempt, drops and counts the rest before verifying', async () => {
    const counters = new Counters()
    const ep = endpoint(counters)
    const connector = new Connector({ endpoint: ep, keyPair: self, punch: { ...DEFAULT_PUNCH, timeoutMs: 1_000 }, logger, counters, nat: () => 'unknown' })
    const punchNonce = randomBytes(32)
    // The peer's candidate is an address nobody answers on: the attempt probes and waits.
    const intro: Introduce = { type: 'introduce', reqId: 0, peerKey: peer.publicKey, peerName: 'bob', candidates: [{ host: '127.0.0.1', port: 9, family: 4 }], punchNonce, requester: false, peerNat: 'unknown' }
    let probing = false
    const attempt = connector.start(intro, false, (stage) => (probing ||= stage === 'probing')).catch((e: Error) => e)
    await waitFor(() => probing, { what: 'the attempt probing' })
    const raw = encodeSigned({ type: 'probe', punchNonce, key: peer.publicKey, streamId: 7, seq: 1, addr: { host: '127.0.0.1', port: ep.address().port, family: 4 }, sig: new Uint8Array(64) }, peer.secretKey)
    const msg = decodeMessage(raw) as Probe
    const t0 = Date.now()
    for (let i = 0; i < 3_000; i++) connector.handleProbe(msg, raw, { host: '127.0.0.1', port: 9 })
    const elapsedS = (Date.now() - t0 + 1) / 1000
    const verified = counters.get('probes_received')
    // The burst (800) and whatever refilled while the loop ran (400/s), no more.
    expect(verified).toBeGreaterThanOrEqual(800)
    expect(verified).toBeLessThanOrEqual(800 + Math.ceil(400 * elapsedS))
    expect(counters.get('probes_dropped_rate_limited')).toBe(3_000 - verified)
    connector.stop()
    expect(await attempt).toBeInstanceOf(Error)
  })
})

describe('many-port run sockets', () => {
  it('opens its sockets in batches, probes from each, and on release closes all but the kept one', async () => {
    const counters = new Counters()
    const ep = endpoint(counters)
    const target = endpoint(new Counters())
    let seen = 0
    target.onDatagram(() => seen++)
    const sent: unknown[] = []
    const run = new ManyPortRun({
      endpoint: ep, role: 'hard', target: target.address(), seed: 1, config: { ...DEFAULT_MANY_PORT, sockets: 24, openBatch: 8, stepMs: 5 },
      probe: (to, socket) => {
        sent.push(socket)
        ep.send(encodeSigned({ type: 'probe', punchNonce: new Uint8Array(32), key: self.publicKey, streamId: 1, seq: 1, addr: { ...to, family: 4 }, sig: new Uint8Array(64) }, self.secretKey), to, socket)
      },
      onDone: () => {}, logger, counters,
    })
    await waitFor(() => ep.extraSockets === 24, { what: 'all 24 sockets open' })
    await waitFor(() => seen === 24, { what: 'a probe from each socket' })
    expect(new Set(sent).size).toBe(24)
    const keep = sent[5] as Parameters<typeof run.release>[0]
    run.release(keep)
    expect(ep.extraSockets).toBe(1)
    expect(counters.get('udp_extra_sockets_opened')).toBe(24)
    ep.release(keep!)
    expect(ep.extraSockets).toBe(0)
  })
})
