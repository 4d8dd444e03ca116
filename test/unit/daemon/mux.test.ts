// The stream multiplexer over in-memory carriers: bytes arrive in order and complete; a carrier
// that dies with frames in flight (lost, not delivered) hands every live stream to the next
// carrier, which resumes each from the byte the receiver got: sha256-equal, nothing doubled.
import { createHash, randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { Mux, type MuxOpenDecision } from '../../../daemon/tcp/mux.js'
import { link } from '../../helpers/carrier-link.js'
import { decodeMux } from '../../../protocol/mux.js'
import { Counters } from '../../../daemon/counters.js'
import { createLogger } from '../../../common/logger.js'
import { waitFor } from '../../helpers/wait-for.js'

const logger = createLogger({ name: 'test', level: 'silent' })
const made: Mux[] = []
afterEach(() => {
  for (const m of made.splice(0)) m.close('test over')
})

/** Alice opens; bob's side streams `size` random bytes back on every open. Returns bob's sha. */
function pair(size: number): { alice: Mux; bob: Mux; sent: Promise<string> } {
  let resolveSha: (s: string) => void = () => {}
  const sent = new Promise<string>((r) => (resolveSha = r))
  const onOpen = async (): Promise<MuxOpenDecision> => ({
    ok: true,
    attach: (stream) => {
      const h = createHash('sha256')
      let left = size
      const pump = (): void => {
        while (left > 0) {
          const b = randomBytes(Math.min(100_000, left))
          left -= b.length
          h.update(b)
          if (!stream.write(b)) {
            stream.once('drain', pump)
            return
          }
        }
        stream.end()
        resolveSha(h.digest('hex'))
      }
      pump()
    },
  })
  const counters = new Counters()
  const alice = new Mux({ initiator: true, onOpen: () => Promise.reject(new Error('alice exposes nothing')), logger, counters })
  const bob = new Mux({ initiator: false, onOpen, logger, counters })
  made.push(alice, bob)
  return { alice, bob, sent }
}

/** Count and hash what a stream delivers until its end. */
function collect(s: Duplex): { bytes: () => number; done: Promise<{ bytes: number; sha: string }> } {
  const h = createHash('sha256')
  let n = 0
  s.on('data', (d: Buffer) => {
    h.update(d)
    n += d.length
  })
  return { bytes: () => n, done: new Promise((resolve) => s.once('end', () => resolve({ bytes: n, sha: h.digest('hex') }))) }
}

const tcpInfo = { proto: 'tcp' as const, local: null, remote: null }

describe('stream multiplexer', () => {
  it('carries a stream to its end, sha256-equal', async () => {
    const { alice, bob, sent } = pair(3_000_000)
    const l = link()
    alice.attach(l.a, tcpInfo)
    bob.attach(l.b, tcpInfo)
    const got = collect(await alice.open('localhost', 1))
    expect(await got.done).toEqual({ bytes: 3_000_000, sha: await sent })
  })

  it('credits the sender in steps, not with a frame back for every DATA frame', async () => {
    const { alice, bob, sent } = pair(3_000_000)
    let credits = 0
    const l = link(false, (m) => {
      if (decodeMux(m).type === 'credit') credits++
    })
    alice.attach(l.a, tcpInfo)
    bob.attach(l.b, tcpInfo)
    const got = collect(await alice.open('localhost', 1))
    expect(await got.done).toEqual({ bytes: 3_000_000, sha: await sent })
    // 3 MB in 64 KiB frames is 46 frames; 256 KiB credit steps are 12, plus the final credit at END.
    expect(credits).toBeLessThanOrEqual(14)
  })

  it('a carrier lost mid-stream: the stream resumes on the next one without a byte lost or doubled', async () => {
    const { alice, bob, sent } = pair(20_000_000)
    const first = link()
    alice.attach(first.a, tcpInfo)
    bob.attach(first.b, tcpInfo)
    let dead = 0
    alice.on('dead', () => dead++)
    bob.on('dead', () => dead++)
    const got = collect(await alice.open('localhost', 1))
    await waitFor(() => got.bytes() > 5_000_000, { timeoutMs: 10_000, what: 'a quarter of the stream' })
    first.cut()
    await waitFor(() => dead === 2, { timeoutMs: 5_000, what: 'both sides to notice the lost carrier' })
    expect(alice.usable).toBe(false)
    const second = link()
    alice.attach(second.a, { proto: 'udp', local: null, remote: null })
    bob.attach(second.b, { proto: 'udp', local: null, remote: null })
    expect(await got.done).toEqual({ bytes: 20_000_000, sha: await sent })
  })

  it('fails an open in flight when the carrier dies, and the peer drops its half at the next carrier', async () => {
    const counters = new Counters()
    let opened = 0
    const alice = new Mux({ initiator: true, onOpen: () => Promise.reject(new Error('no')), logger, counters })
    // Bob accepts, but the carrier dies before alice hears of it.
    const bob = new Mux({ initiator: false, onOpen: async () => ({ ok: true, attach: () => void opened++ }), logger, counters })
    made.push(alice, bob)
    const first = link(true)
    alice.attach(first.a, tcpInfo)
    bob.attach(first.b, tcpInfo)
    const pending = alice.open('localhost', 1)
    await waitFor(() => opened === 1, { timeoutMs: 5_000, what: 'bob to accept' })
    first.cut()
    await expect(pending).rejects.toMatchObject({ code: 'SESSION_LOST' })
    expect(bob.size).toBe(1)
    const second = link()
    alice.attach(second.a, { proto: 'udp', local: null, remote: null })
    bob.attach(second.b, { proto: 'udp', local: null, remote: null })
    await waitFor(() => bob.size === 0, { timeoutMs: 5_000, what: 'bob to drop the stream alice never got' })
  })

  it('an open made before any carrier waits, and goes out on the first one', async () => {
    const { alice, bob, sent } = pair(1_000_000)
    const opening = alice.open('localhost', 1)
    const l = link()
    alice.attach(l.a, { proto: 'udp', local: null, remote: null })
    bob.attach(l.b, { proto: 'udp', local: null, remote: null })
    const got = collect(await opening)
    expect(await got.done).toEqual({ bytes: 1_000_000, sha: await sent })
  })

  it('a live carrier replaced by another (a TCP path came up): the stream switches without a byte lost or doubled, and the old carrier lingers', async () => {
    const { alice, bob, sent } = pair(20_000_000)
    const first = link()
    alice.attach(first.a, { proto: 'udp', local: null, remote: null })
    bob.attach(first.b, { proto: 'udp', local: null, remote: null })
    let dead = 0
    alice.on('dead', () => dead++)
    bob.on('dead', () => dead++)
    const got = collect(await alice.open('localhost', 1))
    await waitFor(() => got.bytes() > 5_000_000, { timeoutMs: 10_000, what: 'a quarter of the stream' })
    const second = link()
    alice.attach(second.a, tcpInfo)
    // Bob is still sending on the old carrier; it switches a moment later.
    await new Promise((r) => setImmediate(r))
    bob.attach(second.b, tcpInfo)
    expect(first.a.destroyed).toBe(false)
    expect(await got.done).toEqual({ bytes: 20_000_000, sha: await sent })
    expect(dead).toBe(0)
  })

  it('a carrier change while the reader holds uncredited bytes: no credit is counted twice, the stream completes sha256-equal', async () => {
    // Bob sends a little (less than a credit step, so no credit goes back), the carrier changes,
    // then bob sends the rest. Counting the RESUME's bytes and the next credit both as credited
    // once made bob's sender skip ahead of what it had written.
    const counters = new Counters()
    const h = createHash('sha256')
    let delivered = (): number => 0
    let more: () => void = () => {}
    const gate = new Promise<void>((r) => (more = r))
    const bob = new Mux({
      initiator: false, logger, counters,
      onOpen: async () => ({
        ok: true,
        attach: (stream) => {
          const first = randomBytes(200_000)
          h.update(first)
          stream.write(first)
          // Then one chunk at a time, each once alice has it: little is in flight when a credit comes.
          void gate.then(async () => {
            for (let i = 1; i <= 20; i++) {
              const b = randomBytes(100_000)
              h.update(b)
              stream.write(b)
              await waitFor(() => delivered() >= 200_000 + i * 100_000, { timeoutMs: 5_000, what: `chunk ${i} at alice` })
            }
            stream.end()
          })
        },
      }),
    })
    const alice = new Mux({ initiator: true, onOpen: () => Promise.reject(new Error('no')), logger, counters })
    made.push(alice, bob)
    const first = link()
    alice.attach(first.a, tcpInfo)
    bob.attach(first.b, tcpInfo)
    // Alice does not read yet: the first 200 kB wait in her stream, uncredited.
    const stream = await alice.open('localhost', 1)
    await waitFor(() => stream.readableLength === 200_000, { timeoutMs: 5_000, what: 'the first 200 kB' })
    const second = link()
    alice.attach(second.a, tcpInfo)
    bob.attach(second.b, tcpInfo)
    const got = collect(stream)
    delivered = got.bytes
    more()
    expect(await got.done).toEqual({ bytes: 2_200_000, sha: h.digest('hex') })
  }, 15_000)

  it('an answer to an open it gave up on resets the peer\'s half', async () => {
    const counters = new Counters()
    let opened = 0
    const alice = new Mux({ initiator: true, onOpen: () => Promise.reject(new Error('no')), logger, counters })
    // Bob answers only after alice has moved to a new carrier (its open in flight is failed).
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    let asked = 0
    const bob = new Mux({ initiator: false, onOpen: async () => { asked++; await gate; return { ok: true, attach: () => void opened++ } }, logger, counters })
    made.push(alice, bob)
    const l = link()
    alice.attach(l.a, tcpInfo)
    bob.attach(l.b, tcpInfo)
    const pending = alice.open('localhost', 1)
    await waitFor(() => asked === 1, { timeoutMs: 5_000, what: 'bob to get the open' })
    const l2 = link()
    alice.attach(l2.a, tcpInfo)
    bob.attach(l2.b, tcpInfo)
    await expect(pending).rejects.toMatchObject({ code: 'SESSION_LOST' })
    release()
    await waitFor(() => opened === 1, { timeoutMs: 5_000, what: 'bob to accept late' })
    await waitFor(() => bob.size === 0, { timeoutMs: 5_000, what: 'bob to drop the stream alice gave up on' })
  })

  it('answers a refused open with the reason', async () => {
    const { alice, bob } = pair(0)
    const l = link()
    alice.attach(l.a, tcpInfo)
    bob.attach(l.b, tcpInfo)
    // bob -> alice: alice's handler refuses.
    await expect(bob.open('localhost', 1)).rejects.toMatchObject({ code: 'TARGET_REFUSED' })
  })
})
