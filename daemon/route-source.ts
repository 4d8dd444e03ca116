// Which local address the kernel would send from to reach a remote address: connect a throwaway
// UDP socket (no packet is sent) and read its bound address. Our endpoint listens on 0.0.0.0, so
// this is how a path names its real local side.
import { createSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'

/** The source address toward host:port, or null when there is no route. */
export function routeSource(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4')
    const done = (addr: string | null): void => {
      s.close()
      resolve(addr)
    }
    s.on('error', () => done(null))
    s.connect(port, host, () => {
      try {
        done(s.address().address)
      } catch {
        done(null)
      }
    })
  })
}
