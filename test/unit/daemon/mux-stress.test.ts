// The multiplexer under carrier churn: an upload and a download run at once while carriers are
// replaced live (the two sides switching a moment apart, in either order) or cut with frames in
// flight, at random moments, with the reader pausing now and then. Every run must complete both
// transfers sha256-equal: a hang or a wrong byte is a bug in resume or credit accounting.
import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { Mux, type MuxOpenDecision } from '../../../daemon/tcp/mux.js'
import { link } from '../../helpers/carrier-link.js'
import { Counters } from '../../../daemon/counters.js'
import { createLogger } from '../../../common/logger.js'
import { waitFor } from '../../helpers/wait-for.js'

const logger = createLogger({ name: 'test', level: 'silent' })
const made: Mux[] = []
afterEach(() => {
  for (const m of made.splice(0)) m.close('test over')
})

/** A seeded PRNG (mulberry32), so a failing run can be replayed by its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const info = (proto: 'tcp' | 'udp'): { proto: 'tcp' | 'udp'; local: null; remote: null } => ({ proto, local: null, remote: null })

async function run(seed: number): Promise<void> {
  const r = rng(seed)
  const up = randomBytes(1_000_000 + Math.floor(r() * 3_000_000))
  const down = randomBytes(1_000_000 + Math.floor(r() * 3_000_000))
  const counters = new Counters()
  // Bob: "sink" hashes what it gets and answers "bytes sha" after the client's end; "source" sends `down`.
  const onOpen = async (host: string): Promise<MuxOpenDecision> => ({
    ok: true,
    attach: (stream) => {
      if (host === 'sink') {
        const h = createHash('sha256')
        let n = 0
        stream.on('data', (d: Buffer) => { h.update(d); n += d.length })
        stream.on('end', () => stream.end(`${n} ${h.digest('hex')}`))
      } else {
        let at = 0
        const pump = (): void => {
          while (at < down.length) {
            const len = Math.min(down.length - at, 1 + Math.floor(r() * 200_000))
            const ok = stream.write(down.subarray(at, at + len))
            at += len
            if (!ok) return void stream.once('drain', pump)
          }
          stream.end()
        }
        pump()
      }
    },
  })
  const alice = new Mux({ initiator: true, onOpen: () => Promise.reject(new Error('alice exposes nothing')), logger, counters })
  const bob = new Mux({ initiator: false, onOpen: (req) => onOpen(req.host), logger, counters })
  made.push(alice, bob)
  let current = link()
  alice.attach(current.a, info('udp'))
  bob.attach(current.b, info('udp'))

  const sink = await alice.open('sink', 1)
  const source = await alice.open('source', 1)
  const reply: Buffer[] = []
  sink.on('data', (d: Buffer) => reply.push(d))
  const sinkDone = new Promise<void>((res) => sink.once('end', () => res()))
  const got: Buffer[] = []
  let gotBytes = 0
  source.on('data', (d: Buffer) => {
    got.push(d)
    gotBytes += d.length
    // A slow reader now and then: credit must still flow after it resumes.
    if (r() < 0.05) {
      source.pause()
      setTimeout(() => source.resume(), Math.floor(r() * 20))
    }
  })
  const sourceDone = new Promise<void>((res) => source.once('end', () => res()))
  void (async () => {
    let at = 0
    while (at < up.length) {
      const len = Math.min(up.length - at, 1 + Math.floor(r() * 150_000))
      const ok = sink.write(up.subarray(at, at + len))
      at += len
      if (!ok) await new Promise((res) => sink.once('drain', res))
    }
    sink.end()
  })()

  // Churn: a few carrier changes at random moments while both transfers run.
  const actions: string[] = []
  let finished = false
  void Promise.all([sinkDone, sourceDone]).then(() => (finished = true))
  for (let k = 0; k < 4 && !finished; k++) {
    await sleep(Math.floor(r() * 40))
    if (finished) break
    const next = link()
    const proto = r() < 0.5 ? 'tcp' : 'udp'
    if (r() < 0.6) {
      // Live replacement: one side switches first, the other a few turns later.
      const aliceFirst = r() < 0.5
      const turns = Math.floor(r() * 4)
      actions.push(`replace(${aliceFirst ? 'alice' : 'bob'} first, ${turns} turns)`)
      if (aliceFirst) alice.attach(next.a, info(proto))
      else bob.attach(next.b, info(proto))
      for (let t = 0; t < turns; t++) await new Promise((res) => setImmediate(res))
      if (aliceFirst) bob.attach(next.b, info(proto))
      else alice.attach(next.a, info(proto))
    } else {
      actions.push('cut')
      current.cut()
      await waitFor(() => !alice.usable && !bob.usable, { timeoutMs: 5_000, what: 'both sides to notice the cut' })
      alice.attach(next.a, info(proto))
      bob.attach(next.b, info(proto))
    }
    current = next
  }
  try {
    await waitFor(() => finished || null, { timeoutMs: 20_000, intervalMs: 20, what: `both transfers (seed ${seed}: ${actions.join(', ')}; downloaded ${gotBytes}/${down.length})` })
  } catch (err) {
    const dump = (m: Mux): string => JSON.stringify([...(m as unknown as { streams: Map<number, Record<string, unknown>> }).streams.values()].map((x) => {
      const o: Record<string, unknown> = {}
      for (const k of ['id', 'received', 'credited', 'acked', 'written', 'sent', 'endAt', 'endSent', 'peerEnded', 'awaitingResume', 'destroyed', 'readableLength', 'writableLength', 'readableEnded', 'writableFinished', 'starved']) o[k] = x[k]
      return o
    }))
    throw new Error(`${(err as Error).message}; counters ${JSON.stringify(counters.toJSON())}\nalice ${dump(alice)}\nbob ${dump(bob)}\nreply ${Buffer.concat(reply).toString()}`)
  }
  expect(sha(Buffer.concat(got)), `download, seed ${seed}: ${actions.join(', ')}`).toBe(sha(down))
  expect(Buffer.concat(reply).toString(), `upload, seed ${seed}: ${actions.join(', ')}`).toBe(`${up.length} ${sha(up)}`)
}

describe('stream multiplexer under carrier churn', () => {
  const seeds = Array.from({ length: Number(process.env.MUX_STRESS_SEEDS ?? 24) }, (_, i) => i + 1)
  for (const seed of seeds) it(`seed ${seed}: an upload and a download complete sha256-equal through random carrier changes`, () => run(seed), 30_000)
})
