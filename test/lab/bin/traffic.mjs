// Traffic for the NAT lab, run inside namespaces (the test process lives outside them).
//   traffic.mjs server PORT [HOST]     upload sink and download source on HOST:PORT (127.0.0.1)
//   traffic.mjs upload PORT BYTES      send BYTES, half-close, expect "<bytes> <sha256>" back
//   traffic.mjs download PORT BYTES    ask for BYTES; the server sends their sha256 first
// Clients print one JSON line: { ok, bytes, ms, ... }. Every byte is checked by sha256.
// TRAFFIC_MARKER=TEXT (either side): every 256-byte block of the data it sends starts with TEXT,
// so any packet of plaintext carries it several times (a path that must not see plaintext is
// checked for it).
// TRAFFIC_GATE=FILE (upload): send the first half, then wait (up to 120 s) until FILE exists
// before sending the rest: the same connection, idle while the test changes the path.
import net from 'node:net'
import crypto from 'node:crypto'
import fs from 'node:fs'

const [mode, portArg, sizeArg] = process.argv.slice(2)
const port = Number(portArg)
const CHUNK = 1 << 20
const MARKER = process.env.TRAFFIC_MARKER ? Buffer.from(process.env.TRAFFIC_MARKER) : null

// Random bytes, marked when asked (see above).
function data(n) {
  const b = crypto.randomBytes(n)
  if (MARKER) for (let at = 0; at + MARKER.length <= n; at += 256) MARKER.copy(b, at)
  return b
}

if (mode === 'server') {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    let kind = null
    let head = Buffer.alloc(0)
    const h = crypto.createHash('sha256')
    let n = 0
    s.on('error', () => {})
    s.on('data', (d) => {
      if (kind === null) {
        head = Buffer.concat([head, d])
        if (head[0] === 0x55) {
          kind = 'U'
          d = head.subarray(1)
        } else {
          const i = head.indexOf(10)
          if (i < 0) return
          kind = 'D'
          send(s, Number(head.subarray(1, i).toString()))
          return
        }
      }
      if (kind === 'U') {
        h.update(d)
        n += d.length
      }
    })
    s.on('end', () => {
      if (kind === 'U') s.end(`${n} ${h.digest('hex')}`)
    })
  })
  srv.listen(port, sizeArg ?? '127.0.0.1', () => process.stdout.write('ready\n'))
} else if (mode === 'upload' || mode === 'download') {
  const size = Number(sizeArg)
  const t0 = process.hrtime.bigint()
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  const chunks = []
  let sentSha = ''
  // The longest silence between two received chunks: how long a path change stalled the flow.
  let last = 0n
  let maxGapMs = 0
  s.on('data', (d) => {
    const t = process.hrtime.bigint()
    if (last !== 0n) maxGapMs = Math.max(maxGapMs, Number(t - last) / 1e6)
    last = t
    chunks.push(d)
  })
  // Half-open socket: once the server is done, finish our side too so 'close' comes.
  s.on('end', () => s.end())
  s.on('error', (e) => {
    console.log(JSON.stringify({ ok: false, bytes: 0, ms: 0, error: e.code || e.message }))
    process.exit(1)
  })
  s.on('connect', () => {
    if (mode === 'download') {
      s.write(`D${size}\n`)
      return
    }
    const h = crypto.createHash('sha256')
    s.write('U')
    let left = size
    let gate = process.env.TRAFFIC_GATE ?? null
    const gateDeadline = Date.now() + 120_000
    const pump = () => {
      while (left > 0) {
        if (gate && left <= size / 2) {
          if (!fs.existsSync(gate) && Date.now() < gateDeadline) return setTimeout(pump, 50)
          gate = null
        }
        const b = data(Math.min(CHUNK, left, gate ? left - size / 2 : CHUNK))
        left -= b.length
        h.update(b)
        if (!s.write(b)) {
          // An upload's stall shows as the longest wait for the local socket to take more data.
          const t = process.hrtime.bigint()
          return s.once('drain', () => {
            maxGapMs = Math.max(maxGapMs, Number(process.hrtime.bigint() - t) / 1e6)
            pump()
          })
        }
      }
      sentSha = h.digest('hex')
      s.end()
    }
    pump()
  })
  s.on('close', () => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    const all = Buffer.concat(chunks)
    if (mode === 'upload') {
      const reply = all.toString()
      console.log(JSON.stringify({ ok: reply === `${size} ${sentSha}`, bytes: size, ms, reply: reply.slice(0, 100), maxGapMs }))
    } else {
      const body = all.subarray(64)
      const sha = crypto.createHash('sha256').update(body).digest('hex')
      console.log(JSON.stringify({ ok: body.length === size && sha === all.subarray(0, 64).toString(), bytes: body.length, ms, maxGapMs }))
    }
  })
} else {
  console.error('usage: traffic.mjs server PORT | upload PORT BYTES | download PORT BYTES')
  process.exit(2)
}

function send(s, total) {
  const h = crypto.createHash('sha256')
  const parts = []
  for (let left = total; left > 0; left -= CHUNK) {
    const b = data(Math.min(CHUNK, left))
    h.update(b)
    parts.push(b)
  }
  s.write(h.digest('hex'))
  let i = 0
  const pump = () => {
    while (i < parts.length) if (!s.write(parts[i++])) return s.once('drain', pump)
    s.end()
  }
  pump()
}
