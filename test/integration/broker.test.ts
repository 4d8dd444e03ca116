// The real, built p2p-broker as a child process, spoken to over UDP on 127.0.0.1 by plain
// node:dgram clients that sign their own messages. Needs `npx tsc -p tsconfig.json` first
// (npm test builds before it runs vitest).
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { keyToHex } from '../../protocol/identity.js'
import { BrokerErrorCode, type Introduce } from '../../protocol/wire.js'
import { decodeTcpObserved } from '../../protocol/tcp-reflect.js'
import { BIN, Client, closeClients, errorOf, getHealth, getJson, getStats, nextReqId, randomNonce, spawnBroker, startBroker, stopAll, type BrokerProcess } from '../helpers/broker-harness.js'
import { waitFor } from '../helpers/wait-for.js'

const sum = (o: Record<string, number>): number => Object.values(o).reduce((x, y) => x + y, 0)

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npx tsc -p tsconfig.json)`)
})

afterEach(closeClients)

afterAll(stopAll)

// ---- tests ---------------------------------------------------------------------------------

describe('p2p-broker over UDP', () => {
  let broker: BrokerProcess
  beforeAll(async () => {
    // A high rate limit so that this group's many requests from 127.0.0.1 are not throttled.
    broker = await startBroker(['--rate-limit', '1000000'])
  })
  afterAll(stopAll)

  it('prints exactly one listening line per listener on stdout', () => {
    expect(broker.stdout()).toBe(`listening udp 127.0.0.1:${broker.udpPort}\nlistening tcp 127.0.0.1:${broker.udpPort}\nlistening http 127.0.0.1:${broker.httpPort}\n`)
  })

  it('reflects a TCP connection\'s source address on the same host:port, then closes', async () => {
    const sock = connect({ host: '127.0.0.1', port: broker.udpPort })
    sock.on('error', () => {})
    const chunks: Buffer[] = []
    sock.on('data', (d: Buffer) => chunks.push(d))
    await new Promise<void>((resolve, reject) => {
      sock.once('end', () => resolve())
      sock.once('error', reject)
    })
    expect(decodeTcpObserved(Buffer.concat(chunks))).toEqual({ host: '127.0.0.1', family: 4, port: sock.localPort })
    sock.destroy()
  })

  it('registers and reflects the observed address and lease', async () => {
    const alice = await Client.open(broker.udpPort)
    const reply = await alice.register('alice')
    expect(reply).toMatchObject({ type: 'registered', observed: { host: '127.0.0.1', family: 4, port: alice.port }, leaseS: 90 })
    const health = await getHealth(broker.httpPort)
    expect(health).toMatchObject({ ok: true })
    expect(health.registrations).toBeGreaterThanOrEqual(1)
  })

  it('refuses a bad signature, a stale timestamp and a reused nonce with different content', async () => {
    const c = await Client.open(broker.udpPort)
    const forged = c.registerBytes('mallory', { reqId: 11 })
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 0xff
    expect(errorOf(await c.request(forged, 11, 'bad signature refusal')).code).toBe(BrokerErrorCode.BAD_SIGNATURE)

    const stale = errorOf(await c.register('mallory', { timestamp: Date.now() - 120_000 }))
    expect(stale.code).toBe(BrokerErrorCode.REPLAYED)
    expect(stale.message).toMatch(/off the broker's clock/)

    const nonce = randomNonce()
    expect((await c.register('', { nonce })).type).toBe('registered')
    const replay = errorOf(await c.register('', { nonce, hosts: [{ host: '10.0.0.66', port: 6666 }] }))
    expect(replay.code).toBe(BrokerErrorCode.REPLAYED)
  })

  it('answers an identical re-sent REGISTER again (idempotent retry)', async () => {
    const c = await Client.open(broker.udpPort)
    const dg = c.registerBytes('', { reqId: 77 })
    expect((await c.request(dg, 77, 'first answer')).type).toBe('registered')
    expect((await c.request(dg, 77, 'answer to the retry')).type).toBe('registered')
  })

  it('binds names first-come: a second key gets NAME_TAKEN', async () => {
    const bob = await Client.open(broker.udpPort)
    const eve = await Client.open(broker.udpPort)
    expect((await bob.register('bob')).type).toBe('registered')
    const taken = errorOf(await eve.register('bob'))
    expect(taken).toMatchObject({ code: BrokerErrorCode.NAME_TAKEN, message: 'name bob is taken by another key' })
  })

  it('introduces both peers with the same punch nonce and each other\'s candidates', async () => {
    const a = await Client.open(broker.udpPort)
    const b = await Client.open(broker.udpPort)
    await a.register('intro-a', { hosts: [{ host: '10.1.1.1', port: 1111 }] })
    await b.register('intro-b', { hosts: [{ host: '10.2.2.2', port: 2222 }] })
    const reqId = nextReqId()
    const toA = (await a.request(a.connectBytes('intro-b', reqId), reqId, 'introduction of b to a')) as Introduce
    const toB = await waitFor(() => b.received.find((r) => r.msg.type === 'introduce')?.msg as Introduce | undefined, { what: 'introduction of a to b' })
    expect(toA).toMatchObject({ type: 'introduce', reqId, peerName: 'intro-b', requester: true })
    expect(toB).toMatchObject({ type: 'introduce', reqId: 0, peerName: 'intro-a', requester: false })
    expect(keyToHex(toA.peerKey)).toBe(keyToHex(b.kp.publicKey))
    expect(keyToHex(toB.peerKey)).toBe(keyToHex(a.kp.publicKey))
    expect(toA.punchNonce).toHaveLength(32)
    expect(toB.punchNonce).toEqual(toA.punchNonce)
    expect(toA.candidates).toEqual([{ host: '127.0.0.1', family: 4, port: b.port }, { host: '10.2.2.2', family: 4, port: 2222 }])
    expect(toB.candidates).toEqual([{ host: '127.0.0.1', family: 4, port: a.port }, { host: '10.1.1.1', family: 4, port: 1111 }])

    // By key works too, and a new reqId gets a new punch nonce.
    const reqId2 = nextReqId()
    const again = (await a.request(a.connectBytes(b.kp.publicKey, reqId2), reqId2, 'introduction by key')) as Introduce
    expect(again.peerName).toBe('intro-b')
    expect(again.punchNonce).not.toEqual(toA.punchNonce)
    const stats = await getJson<{ introductions: number }>(broker.httpPort, '/v1/stats')
    expect(stats.body.introductions).toBeGreaterThanOrEqual(2)
  })

  it('re-sends both introductions with the same punch nonce when a CONNECT is retried', async () => {
    const a = await Client.open(broker.udpPort)
    const b = await Client.open(broker.udpPort)
    await a.register('retry-a')
    await b.register('retry-b')
    const reqId = nextReqId()
    const dg = a.connectBytes('retry-b', reqId)
    const first = (await a.request(dg, reqId, 'first introduction')) as Introduce
    const second = (await a.request(dg, reqId, 'introduction after retry')) as Introduce
    expect(second.punchNonce).toEqual(first.punchNonce)
    const toB = await waitFor(() => {
      const intros = b.received.filter((r) => r.msg.type === 'introduce')
      return intros.length === 2 ? intros.map((r) => r.msg as Introduce) : null
    }, { what: 'two introductions at b' })
    expect(toB[1]!.punchNonce).toEqual(toB[0]!.punchNonce)
    expect(toB[0]!.punchNonce).toEqual(first.punchNonce)
  })

  it('refuses CONNECT to an unknown peer and from an unregistered key', async () => {
    const a = await Client.open(broker.udpPort)
    await a.register('')
    const reqId = nextReqId()
    expect(errorOf(await a.request(a.connectBytes('nobody', reqId), reqId, 'unknown peer refusal'))).toEqual({
      type: 'error', reqId, code: BrokerErrorCode.UNKNOWN_PEER, message: 'no peer nobody is registered',
    })
    const stranger = await Client.open(broker.udpPort)
    const r2 = nextReqId()
    expect(errorOf(await stranger.request(stranger.connectBytes('intro-a', r2), r2, 'not registered refusal')).code).toBe(BrokerErrorCode.NOT_REGISTERED)
  })

  it('never sends an unregistered source a reply bigger than its request', async () => {
    const hosts = Array.from({ length: 16 }, (_, i) => ({ host: `10.3.0.${i + 1}`, port: 3000 + i }))
    const a = await Client.open(broker.udpPort)
    const b = await Client.open(broker.udpPort)
    await a.register('amp-a', { hosts })
    await b.register('amp-b', { hosts })
    const reqId = nextReqId()
    const connect = a.connectBytes('amp-b', reqId)
    await a.request(connect, reqId, 'legitimate introduction')

    // The same signed CONNECT from an address nobody registered: the introduction would be
    // larger than the request, so it must not be sent there.
    const spoof = await Client.open(broker.udpPort)
    const before = (await getStats(broker.httpPort)).dropped.AMPLIFICATION ?? 0
    await spoof.send(connect)
    // A barrier: a request answered with a small error, sent after. Once its answer is here,
    // anything the broker sent for the first request has arrived too.
    const barrier = spoof.registerBytes('', { reqId: 99 })
    barrier[barrier.length - 1] = barrier[barrier.length - 1]! ^ 1
    await spoof.request(barrier, 99, 'barrier answer')
    expect(spoof.received.some((r) => r.msg.type === 'introduce')).toBe(false)
    const requests = [connect.length, barrier.length]
    spoof.received.forEach((r, i) => expect(r.size).toBeLessThanOrEqual(requests[i] ?? 0))
    const after = (await getStats(broker.httpPort)).dropped.AMPLIFICATION ?? 0
    expect(after).toBe(before + 1)
  })

  it('survives 2000 garbage datagrams, counts them, and still serves', async () => {
    const fuzz = await Client.open(broker.udpPort)
    const valid = fuzz.registerBytes('fuzz')
    const before = await getStats(broker.httpPort)
    // Paced in batches, each closed by a round trip, so that the broker's socket buffer never
    // overflows and every datagram reaches the broker (which is what is under test).
    let barrierId = 5000
    const barrier = async (): Promise<void> => {
      const reqId = ++barrierId
      await waitFor(async () => {
        await fuzz.send(fuzz.registerBytes('', { reqId, timestamp: 1 })) // stale: a short ERROR
        return fuzz.received.some((r) => r.msg.type === 'error' && r.msg.reqId === reqId)
      }, { intervalMs: 200, what: `barrier ${reqId}` })
    }
    let seed = 0x9e3779b9
    const rnd = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32
    let garbage = 0
    for (let i = 0; i < 2000; i++) {
      let dg: Uint8Array
      if (i % 3 === 0) {
        dg = valid.slice()
        dg[Math.floor(rnd() * dg.length)] = Math.floor(rnd() * 256)
        if (rnd() < 0.3) dg = dg.subarray(0, Math.floor(rnd() * dg.length))
      } else {
        garbage++
        dg = new Uint8Array(1 + Math.floor(rnd() * 1400))
        for (let j = 0; j < dg.length; j++) dg[j] = Math.floor(rnd() * 256)
        if (i % 3 === 1) dg.set([0x50, rnd() < 0.9 ? 1 : 2, Math.floor(rnd() * 10)].slice(0, dg.length))
      }
      await fuzz.send(dg)
      if (i % 50 === 49) await barrier()
    }
    expect(broker.proc.exitCode).toBeNull()
    const c = await Client.open(broker.udpPort)
    expect((await c.register('')).type).toBe('registered')
    const stats = await getStats(broker.httpPort)
    expect(stats.received - before.received).toBeGreaterThanOrEqual(2000)
    // Random bytes are all dropped (mutated REGISTERs are mostly answered with an ERROR).
    expect(sum(stats.dropped) - sum(before.dropped)).toBeGreaterThanOrEqual(garbage)
    for (const reason of Object.keys(stats.dropped)) {
      expect(['TRUNCATED', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_TYPE', 'TOO_LONG', 'BAD_VALUE', 'TRAILING_BYTES', 'NOT_SERVED', 'AMPLIFICATION']).toContain(reason)
    }
    expect(stats.dropped.BAD_MAGIC).toBeGreaterThan(0)
    expect(stats.dropped.TOO_LONG).toBeGreaterThan(0)
    expect(stats.dropped.INTERNAL).toBeUndefined()
    expect(broker.stderr()).not.toMatch(/handler failed/)
  })

  it('serves 404 JSON for unknown HTTP paths', async () => {
    const r = await getJson<{ error: { code: string } }>(broker.httpPort, '/nope')
    expect(r.status).toBe(404)
    expect(r.body.error.code).toBe('NOT_FOUND')
  })
})

describe('p2p-broker process behaviour', () => {
  afterEach(stopAll)

  it('rate-limits a flood from one source IP and counts it', async () => {
    const broker = await startBroker(['--rate-limit', '10'])
    const c = await Client.open(broker.udpPort)
    for (let i = 0; i < 100; i++) await c.send(new Uint8Array([0, 1, 2, i]))
    const stats = await waitFor(async () => {
      const s = await getStats(broker.httpPort)
      return s.received >= 100 ? s : null
    }, { what: 'the broker to receive the flood' })
    // Burst is 2 × 10: the rest of the 100 was refused before decoding.
    expect(stats.dropped.RATE_LIMITED).toBeGreaterThanOrEqual(70)
    expect(stats.dropped.BAD_MAGIC).toBeLessThanOrEqual(30)
  })

  it('keeps names across a restart with --state-dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-broker-test-'))
    try {
      const first = await startBroker(['--state-dir', dir])
      const bob = await Client.open(first.udpPort)
      expect((await bob.register('bob')).type).toBe('registered')
      const file = join(dir, 'names.json')
      await waitFor(async () => existsSync(file) && JSON.parse(await readFile(file, 'utf8')).names?.bob === keyToHex(bob.kp.publicKey), { what: 'names.json with bob' })
      first.proc.kill('SIGTERM')
      expect(await first.exited).toBe(0)

      const second = await startBroker(['--state-dir', dir])
      const eve = await Client.open(second.udpPort)
      expect(errorOf(await eve.register('bob')).code).toBe(BrokerErrorCode.NAME_TAKEN)
      const bobAgain = await Client.open(second.udpPort, bob.kp)
      expect((await bobAgain.register('bob')).type).toBe('registered')
      expect((await getStats(second.httpPort)).names).toBe(1)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('expires registrations after the lease', async () => {
    const broker = await startBroker(['--lease', '1'])
    const a = await Client.open(broker.udpPort)
    const b = await Client.open(broker.udpPort)
    expect(await a.register('lease-a')).toMatchObject({ type: 'registered', leaseS: 1 })
    await b.register('lease-b')
    await waitFor(async () => (await getHealth(broker.httpPort)).registrations === 0, { timeoutMs: 5000, what: 'leases to expire' })
    // An expired peer is unknown, and an expired requester is not registered.
    await b.register('lease-b')
    const reqId = nextReqId()
    expect(errorOf(await b.request(b.connectBytes('lease-a', reqId), reqId, 'refusal after expiry')).code).toBe(BrokerErrorCode.UNKNOWN_PEER)
  })

  it.each(['SIGTERM', 'SIGINT'] as const)('exits 0 on %s', async (signal) => {
    const broker = await startBroker()
    broker.proc.kill(signal)
    expect(await broker.exited).toBe(0)
  })

  it.each([
    [['--lease', '0'], '--lease'],
    [['--listen', 'localhost'], '--listen'],
    [['--http', '127.0.0.1:99999'], '--http'],
    [['--log-level', 'chatty'], '--log-level'],
    [['--bogus'], '--bogus'],
  ])('refuses %j with exit 2 and one line naming the flag', async (args, flag) => {
    const b = spawnBroker(args)
    expect(await b.exited).toBe(2)
    expect(b.stdout()).toBe('')
    const lines = b.stderr().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(flag)
  })

  it('takes its settings from P2P_BROKER_* variables', async () => {
    const b = spawnBroker([], { P2P_BROKER_LISTEN: '127.0.0.1:0,127.0.0.1:0', P2P_BROKER_LEASE: '7', P2P_BROKER_LOG_LEVEL: 'warn' })
    const lines = await waitFor(() => {
      const ls = b.stdout().split('\n').filter((l) => l.startsWith('listening udp '))
      return ls.length === 2 ? ls : null
    }, { what: 'two udp listeners from P2P_BROKER_LISTEN' })
    const c = await Client.open(Number(lines[1]!.split(':').pop()))
    expect(await c.register('')).toMatchObject({ type: 'registered', leaseS: 7 })
    const bad = spawnBroker([], { P2P_BROKER_LEASE: 'soon' })
    expect(await bad.exited).toBe(2)
    expect(bad.stderr()).toContain('P2P_BROKER_LEASE')
  })

  it('--check-config prints the resolved settings and binds nothing; a bad value names the flag', async () => {
    const ok = spawnBroker(['--check-config', '--listen', '127.0.0.1:1', '--lease', '30'])
    expect(await ok.exited).toBe(0)
    expect(JSON.parse(ok.stdout())).toMatchObject({ listen: [{ host: '127.0.0.1', port: 1 }], leaseS: 30 })
    const bad = spawnBroker(['--check-config', '--lease', 'abc'])
    expect(await bad.exited).toBe(2)
    expect(bad.stderr()).toMatch(/--lease: "abc"/)
  })

  it('prints help that teaches with an example', async () => {
    const b = spawnBroker(['--help'])
    expect(await b.exited).toBe(0)
    expect(b.stdout()).toMatch(/--listen/)
    expect(b.stdout()).toMatch(/Examples:[\s\S]*\n\s+p2p-broker --listen 0/)
  })
})
