// In-memory carriers for multiplexer tests: two ends of a message-preserving link with
// asynchronous delivery, so a cut drops what is still on its way.
import { Duplex } from 'node:stream'
import type { Carrier } from '../../daemon/tcp/mux.js'

/** Two ends of a message-preserving link; cut() drops everything in flight and closes both; `muteB` drops what b sends; `seen` gets every message a sends. */
export function link(muteB = false, seen: (msg: Uint8Array) => void = () => {}): { a: Carrier; b: Carrier; cut: () => void } {
  let alive = true
  const ends: Duplex[] = []
  const make = (i: number): Duplex => new Duplex({
    objectMode: true,
    read() {},
    write(msg: Uint8Array, _enc, cb) {
      const copy = Uint8Array.from(msg)
      if (i === 0) seen(copy)
      // Asynchronous delivery: a cut drops what is still on its way.
      setImmediate(() => {
        if (alive && !(muteB && i === 1)) ends[1 - i]!.push(copy)
      })
      cb()
    },
  })
  ends.push(make(0), make(1))
  return {
    a: ends[0]!, b: ends[1]!,
    cut: () => {
      alive = false
      for (const e of ends) e.destroy()
    },
  }
}
