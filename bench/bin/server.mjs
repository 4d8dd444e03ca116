// Benchmark servers, run inside the target host's namespace (the bench process lives outside).
//   server.mjs ECHO_PORT SOURCE_PORT
// ECHO_PORT echoes every byte back; SOURCE_PORT reads one line "N\n" and sends N bytes, then ends.
// Both listen on 0.0.0.0 (the forward's "localhost" and the router's DNAT both reach it).
// Prints "ready" once both listen. Exits after 10 minutes at most.
import net from 'node:net'

const [echoPort, sourcePort] = process.argv.slice(2).map(Number)
const CHUNK = Buffer.alloc(1 << 20, 0x61)

const echo = net.createServer({ noDelay: true }, (s) => {
  s.on('error', () => {})
  s.pipe(s)
})

const source = net.createServer({ noDelay: true }, (s) => {
  s.on('error', () => {})
  let head = ''
  const onData = (d) => {
    head += d.toString('latin1')
    const i = head.indexOf('\n')
    if (i < 0) return
    s.off('data', onData)
    send(s, Number(head.slice(0, i)))
  }
  s.on('data', onData)
})

function send(s, total) {
  let left = total
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length)
      left -= n
      if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void s.once('drain', pump)
    }
    s.end()
  }
  pump()
}

let listening = 0
for (const [srv, port] of [[echo, echoPort], [source, sourcePort]]) {
  srv.maxConnections = 20000
  srv.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => {
    if (++listening === 2) process.stdout.write('ready\n')
  })
}
setTimeout(() => process.exit(0), 600_000).unref()
