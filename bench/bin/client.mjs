// Benchmark clients, run inside the forwarding host's namespace (the bench process lives outside).
// Each prints one JSON line ({ ok: true, ... } or { ok: false, error }) and exits.
//   client.mjs download HOST PORT BYTES             one flow from server.mjs's source port
//   client.mjs pingpong HOST PORT SIZE WARMUP ROUNDS  round trips on one echo connection
//   client.mjs alternate HOST PORT SIZE WARMUP ROUNDS BLOCK HOST2 PORT2 [HOST3 PORT3 ...]
//                                                  the same on one connection per target, taken
//                                                  in turns of BLOCK rounds (samplesMs per target)
//   client.mjs open HOST PORT WARMUP COUNT          sequential connects: connect() to first echo byte
//   client.mjs hold HOST PORT COUNT BATCH           COUNT echo connections kept open until SIGTERM
// Times are milliseconds from process.hrtime. Every mode gives up after LIMIT_MS.
import net from 'node:net'

const LIMIT_MS = 150_000
const HOLD_MS = 120_000
const [mode, host, portArg, ...rest] = process.argv.slice(2)
const port = Number(portArg)
const args = rest.map(Number)

const now = () => Number(process.hrtime.bigint()) / 1e6
const round = (x) => Math.round(x * 1000) / 1000
const done = (result) => {
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(result.ok ? 0 : 1)
}
const fail = (e) => done({ ok: false, error: e instanceof Error ? (e.code ?? e.message) : String(e) })
setTimeout(() => fail('time limit'), LIMIT_MS).unref()

function connect(h = host, p = port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: h, port: p, noDelay: true })
    s.once('error', reject)
    s.once('connect', () => resolve(s))
  })
}

/** Read exactly n bytes (the socket is otherwise idle), resolving with the time of the first one. */
function readN(s, n) {
  return new Promise((resolve, reject) => {
    let got = 0
    let first = 0
    const onData = (d) => {
      if (got === 0) first = now()
      got += d.length
      if (got >= n) {
        s.off('data', onData)
        s.off('error', reject)
        s.off('end', onEnd)
        resolve(first)
      }
    }
    const onEnd = () => reject(new Error(`connection ended after ${got} of ${n} bytes`))
    s.on('data', onData)
    s.once('error', reject)
    s.once('end', onEnd)
  })
}

async function download(bytes) {
  const t0 = now()
  const s = await connect()
  let got = 0
  let first = 0
  s.on('data', (d) => {
    if (got === 0) first = now()
    got += d.length
  })
  s.write(`${bytes}\n`)
  await new Promise((resolve, reject) => {
    s.once('end', resolve)
    s.once('error', reject)
  })
  const ms = now() - t0
  s.destroy()
  if (got !== bytes) throw new Error(`got ${got} of ${bytes} bytes`)
  return { ok: true, bytes, ms: round(ms), firstByteMs: round(first - t0), mbit: round((bytes * 8) / (ms / 1000) / 1e6) }
}

async function pingpong(size, warmup, rounds) {
  const s = await connect()
  const samples = await exchange(s, Buffer.alloc(size, 0x70), warmup, [])
  await exchange(s, Buffer.alloc(size, 0x70), rounds, samples)
  s.destroy()
  return { ok: true, size, rounds, samplesMs: samples }
}

// `rounds` echoed writes of msg on s, one at a time; each round trip's time goes to `samples`.
async function exchange(s, msg, rounds, samples) {
  for (let i = 0; i < rounds; i++) {
    const t0 = now()
    const reply = readN(s, msg.length)
    s.write(msg)
    await reply
    samples.push(round(now() - t0))
  }
  return samples
}

// Round trips to several targets in turns of `block`, so that a machine whose speed drifts
// (other load, CPU clocks) weighs on every target alike: ratios within one run stay comparable.
async function alternate(size, warmup, rounds, block, more) {
  const targets = [[host, port]]
  for (let i = 0; i + 1 < more.length; i += 2) targets.push([more[i], Number(more[i + 1])])
  const socks = await Promise.all(targets.map(([h, p]) => connect(h, p)))
  const msg = Buffer.alloc(size, 0x70)
  for (const s of socks) await exchange(s, msg, warmup, [])
  const samples = socks.map(() => [])
  for (let done = 0; done < rounds; done += block) {
    for (let t = 0; t < socks.length; t++) await exchange(socks[t], msg, Math.min(block, rounds - done), samples[t])
  }
  for (const s of socks) s.destroy()
  return { ok: true, size, rounds, samplesMs: samples }
}

async function open(warmup, count) {
  const openMs = []
  const connectMs = []
  for (let i = 0; i < warmup + count; i++) {
    const t0 = now()
    const s = await connect()
    const t1 = now()
    const reply = readN(s, 16)
    s.write(Buffer.alloc(16, 0x6f))
    const first = await reply
    s.destroy()
    if (i >= warmup) {
      openMs.push(round(first - t0))
      connectMs.push(round(t1 - t0))
    }
  }
  return { ok: true, count, openMs, connectMs }
}

async function hold(count, batch) {
  const t0 = now()
  const socks = []
  let failed = 0
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i)
    await Promise.all(Array.from({ length: n }, async () => {
      try {
        const s = await connect()
        s.on('error', () => {})
        const reply = readN(s, 32)
        s.write(Buffer.alloc(32, 0x68))
        await reply
        socks.push(s)
      } catch {
        failed++
      }
    }))
  }
  const ms = now() - t0
  // Report, then keep every connection open until told to stop (SIGTERM) or HOLD_MS pass.
  process.stdout.write(`${JSON.stringify({ ok: failed === 0, opened: socks.length, failed, ms: round(ms) })}\n`)
  const stop = () => {
    for (const s of socks) s.destroy()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  setTimeout(stop, HOLD_MS)
  return null
}

const modes = {
  download: () => download(args[0]),
  pingpong: () => pingpong(args[0], args[1], args[2]),
  alternate: () => alternate(args[0], args[1], args[2], args[3], rest.slice(4)),
  open: () => open(args[0], args[1]),
  hold: () => hold(args[0], args[1]),
}
if (!modes[mode]) fail(`unknown mode ${mode}`)
else modes[mode]().then((r) => r && done(r), fail)
