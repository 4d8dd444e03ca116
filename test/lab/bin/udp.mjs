// UDP tools for the NAT lab, run inside namespaces.
//   udp.mjs echo PORT [HOST]       echo server on HOST:PORT (127.0.0.1); "REPORT" answers its counts
//   udp.mjs burst PORT N [PREFIX]  send N numbered datagrams, collect echoes; print JSON
//   udp.mjs report PORT            ask an echo server for its counts; print JSON
//   udp.mjs rtt PORT N [HOST]      N sequential request/responses of 64-1200 bytes to HOST (127.0.0.1)
import dgram from 'node:dgram'

const [mode, portArg, nArg, prefixArg] = process.argv.slice(2)
const port = Number(portArg)
const n = Number(nArg ?? 0)

if (mode === 'echo') {
  const s = dgram.createSocket('udp4')
  const seen = new Map()
  let total = 0
  s.on('message', (m, r) => {
    const text = m.toString()
    if (text === 'REPORT') {
      const dups = [...seen.values()].filter((c) => c > 1).length
      s.send(JSON.stringify({ total, distinct: seen.size, dups }), r.port, r.address)
      return
    }
    total++
    seen.set(text, (seen.get(text) ?? 0) + 1)
    s.send(m, r.port, r.address)
  })
  s.bind(port, nArg ?? '127.0.0.1', () => process.stdout.write('ready\n'))
} else {
  const s = dgram.createSocket('udp4')
  const deadline = setTimeout(() => finish(1), 20_000)
  let finish = (code) => process.exit(code)
  s.bind(0, () => {
    if (mode === 'report') {
      s.on('message', (m) => {
        console.log(m.toString())
        process.exit(0)
      })
      const again = () => s.send('REPORT', port, '127.0.0.1')
      again()
      setInterval(again, 500)
    } else if (mode === 'burst') {
      const got = new Map()
      finish = (code) => {
        clearTimeout(deadline)
        console.log(JSON.stringify({ sent: n, received: got.size, duplicateEchoes: [...got.values()].filter((c) => c > 1).length }))
        process.exit(code)
      }
      // UDP may lose some on a loaded machine: once all are sent, 3 s without an echo ends the
      // burst too (the counts tell what came back).
      let quiet = null
      const settle = () => {
        if (quiet) clearTimeout(quiet)
        quiet = setTimeout(() => finish(0), 3_000)
      }
      s.on('message', (m) => {
        const k = m.toString()
        got.set(k, (got.get(k) ?? 0) + 1)
        if (got.size === n) setTimeout(() => finish(0), 200)
        else if (i >= n) settle()
      })
      let i = 0
      const tick = setInterval(() => {
        for (let j = 0; j < 20 && i < n; j++, i++) s.send(`${prefixArg ?? 'dgram'}-${i}`, port, '127.0.0.1')
        if (i >= n) {
          clearInterval(tick)
          settle()
        }
      }, 5)
    } else if (mode === 'rtt') {
      const times = []
      let i = 0
      let sentAt = 0n
      const next = () => {
        if (i === n) {
          times.sort((a, b) => a - b)
          const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))]
          clearTimeout(deadline)
          console.log(JSON.stringify({ rounds: n, p50: q(0.5), p99: q(0.99) }))
          process.exit(0)
        }
        const size = 64 + ((i * 7919) % 1137)
        const buf = Buffer.alloc(size, i & 255)
        buf.writeUInt32LE(i, 0)
        sentAt = process.hrtime.bigint()
        s.send(buf, port, prefixArg ?? '127.0.0.1')
      }
      s.on('message', (m) => {
        if (m.length < 4 || m.readUInt32LE(0) !== i) return
        times.push(Number(process.hrtime.bigint() - sentAt) / 1e6)
        i++
        next()
      })
      // A lost datagram would stall the sequence: resend the current one after 200 ms.
      setInterval(() => {
        if (process.hrtime.bigint() - sentAt > 200_000_000n) next()
      }, 100)
      next()
    } else {
      console.error('usage: udp.mjs echo PORT | burst PORT N | report PORT | rtt PORT N')
      process.exit(2)
    }
  })
}
