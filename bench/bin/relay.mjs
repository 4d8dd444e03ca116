// The floor of any Node tunnel: a relay with no crypto, no framing, no multiplexing.
//   relay.mjs LISTEN_PORT TARGET_HOST TARGET_PORT [...more LISTEN_PORT TARGET_HOST TARGET_PORT]
// Every connection to LISTEN_PORT gets its own connection to TARGET_HOST:TARGET_PORT and the
// bytes are copied both ways (noDelay, backpressure). Two of these in a row (one per host, the
// second behind a DNAT) stand where the two daemons stand: what they add over plain TCP is what
// Node's event loop and the extra kernel hops cost, before p2pd does any work of its own.
// Prints "ready" once every port listens. Exits after 10 minutes at most.
import net from 'node:net'

const args = process.argv.slice(2)
let listening = 0
const total = args.length / 3
for (let i = 0; i < args.length; i += 3) {
  const [listenPort, host, port] = [Number(args[i]), args[i + 1], Number(args[i + 2])]
  const srv = net.createServer({ noDelay: true }, (a) => {
    const b = net.connect({ host, port, noDelay: true })
    for (const [x, y] of [[a, b], [b, a]]) {
      x.on('error', () => y.destroy())
      x.on('data', (d) => {
        if (!y.write(d)) x.pause()
      })
      y.on('drain', () => x.resume())
      x.on('end', () => y.end())
      x.on('close', () => y.destroy())
    }
  })
  srv.listen({ port: listenPort, host: '0.0.0.0', backlog: 4096 }, () => {
    if (++listening === total) process.stdout.write('ready\n')
  })
}
setTimeout(() => process.exit(0), 600_000).unref()
