// The multiplexer under carrier churn: an upload and a download run at once, and more connections
// open meanwhile, while carriers are replaced live (the two sides switching a moment apart, in
// either order) or cut with frames in flight, at random moments, with readers pausing now and then. Every run must complete both
// transfers sha256-equal: a hang or a wrong byte is a bug in resume or credit accounting.
import { createHash, randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { afterEach, describe, it } from 'vitest'
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

type Kind = 'sink' | 'source' | 'abort'
type Transfer = { kind: Kind; data: Buffer; done: Promise<void>; state: () => string }

async function run(seed: number): Promise<void> {
  const r = rng(seed)
  const counters = new Counters()
  // Bob's services, by host name: "sink:N" hashes what it gets and answers "bytes sha" after the
  // client's end; "source:N" sends transfer N's data and ends.
  const payloads = new Map<number, Buffer>()
  const onOpen = async (host: string): Promise<MuxOpenDecision> => ({
    ok: true,
    attach: (stream) => {
      const [kind, n] = host.split(':') as [Kind, string]
      if (kind === 'abort') {
        // Bob's side gives up on the connection after a little: alice's half must fail, not hang.
        let got = 0
        stream.on('data', (d: Buffer) => {
          got += d.length
          if (got > 100_000) stream.destroy()
        })
        stream.on('end', () => stream.destroy())
        return
      }
      if (kind === 'sink') {
        const h = createHash('sha256')
        let got = 0
        stream.on('data', (d: Buffer) => { h.update(d); got += d.length })
        stream.on('end', () => stream.end(`${got} ${h.digest('hex')}`))
        return
      }
      const data = payloads.get(Number(n))!
      let at = 0
      const pump = (): void => {
        while (at < data.length) {
          const len = Math.min(data.length - at, 1 + Math.floor(r() * 200_000))
          const ok = stream.write(data.subarray(at, at + len))
          at += len
          if (!ok) return void stream.once('drain', pump)
        }
        stream.end()
      }
      pump()
    },
  })
  const alice = new Mux({ initiator: true, onOpen: () => Promise.reject(new Error('alice exposes nothing')), logger, counters })
  const bob = new Mux({ initiator: false, onOpen: (req) => onOpen(req.host), logger, counters })
  made.push(alice, bob)
  let current = link()
  alice.attach(current.a, info('udp'))
  bob.attach(current.b, info('udp'))

  // An open that meets a carrier change fails with SESSION_LOST: like a forward, try again.
  const open = async (host: string): Promise<Duplex> => {
    for (let i = 0; ; i++) {
      try {
        return await alice.open(host, 1)
      } catch (err) {
        if (i >= 5 || (err as { code?: string }).code !== 'SESSION_LOST') throw err
      }
    }
  }
  const start = (n: number, kind: Kind, size: number): Transfer => {
    const data = randomBytes(size)
    payloads.set(n, data)
    let bytes = 0
    const chunks: Buffer[] = []
    const done = open(`${kind}:${n}`).then((s) => new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        chunks.push(d)
        bytes += d.length
        // A slow reader now and then: credit must still flow after it resumes.
        if (r() < 0.05) {
          s.pause()
          setTimeout(() => s.resume(), Math.floor(r() * 20))
        }
      })
      s.once('error', (err: Error) => (kind === 'abort' ? resolve() : reject(err)))
      s.once('end', () => {
        if (kind === 'abort') return void reject(new Error(`abort ${n}: ended instead of failing`))
        const got = Buffer.concat(chunks)
        if (kind === 'source' && sha(got) !== sha(data)) reject(new Error(`source ${n}: ${got.length} bytes, sha differs`))
        else if (kind === 'sink' && got.toString() !== `${data.length} ${sha(data)}`) reject(new Error(`sink ${n}: answer ${got.toString()}`))
        else resolve()
      })
      if (kind !== 'source') {
        void (async () => {
          let at = 0
          while (at < data.length && !s.destroyed) {
            const len = Math.min(data.length - at, 1 + Math.floor(r() * 150_000))
            const ok = s.write(data.subarray(at, at + len))
            at += len
            if (!ok) await new Promise((res) => { s.once('drain', res); s.once('close', res) })
          }
          if (!s.destroyed) s.end()
        })()
      }
    }))
    return { kind, data, done, state: () => `${kind}:${n} ${bytes}/${kind === 'source' ? size : '-'}` }
  }

  // An upload and a download from the start; more connections open while carriers change.
  const transfers = [start(1, 'sink', 1_000_000 + Math.floor(r() * 3_000_000)), start(2, 'source', 1_000_000 + Math.floor(r() * 3_000_000))]
  const late = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => ({ n: 3 + i, at: Math.floor(r() * 120), kind: (['sink', 'source', 'abort'] as const)[Math.floor(r() * 3)]!, size: Math.floor(r() * 1_500_000) }))
  for (const l of late) setTimeout(() => transfers.push(start(l.n, l.kind, l.size)), l.at)

  const actions: string[] = []
  for (let k = 0; k < 5; k++) {
    await sleep(Math.floor(r() * 40))
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
      // A cut, and a pause with no carrier at all before the next.
      actions.push('cut')
      current.cut()
      await waitFor(() => !alice.hasCarrier && !bob.hasCarrier, { timeoutMs: 5_000, what: 'both sides to notice the cut' })
      await sleep(Math.floor(r() * 10))
      alice.attach(next.a, info(proto))
      bob.attach(next.b, info(proto))
    }
    current = next
  }
  await waitFor(() => transfers.length === 2 + late.length || null, { timeoutMs: 5_000, what: 'every connection started' })
  const all = Promise.all(transfers.map((t) => t.done))
  const what = (): string => `seed ${seed}: ${actions.join(', ')}; ${transfers.map((t) => t.state()).join(', ')}`
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what()}; counters ${JSON.stringify(counters.toJSON())}\nalice ${dump(alice)}\nbob ${dump(bob)}`)), 20_000).unref())
  await Promise.race([all.catch((err: Error) => { throw new Error(`${err.message} (${what()})`) }), timeout])
}

// What each stream of a multiplexer holds, for a failure message.
function dump(m: Mux): string {
  return JSON.stringify([...(m as unknown as { streams: Map<number, Record<string, unknown>> }).streams.values()].map((x) => {
    const o: Record<string, unknown> = {}
    for (const k of ['id', 'received', 'credited', 'acked', 'written', 'sent', 'endAt', 'endSent', 'peerEnded', 'awaitingResume', 'destroyed', 'readableEnded', 'writableFinished']) o[k] = x[k]
    return o
  }))
}

describe('stream multiplexer under carrier churn', () => {
  const seeds = Array.from({ length: Number(process.env.MUX_STRESS_SEEDS ?? 24) }, (_, i) => i + 1)
  for (const seed of seeds) it(`seed ${seed}: uploads and downloads, some opened mid-change, complete sha256-equal through random carrier changes; connections the peer aborts fail, never hang`, () => run(seed), 30_000)
})
