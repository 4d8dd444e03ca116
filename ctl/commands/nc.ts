// p2pctl nc PEER PORT [--udp]: netcat to a port the peer exposes. stdin goes to the peer,
// replies to stdout; EOF on stdin half-closes. Exit: 0 done, 1 refused, 4 path lost.
import type { Command } from 'commander'
import type WebSocket from 'ws'
import { contextOf, examples } from '../context.js'
import { ApiError, UsageError } from '../errors.js'
import { parsePort } from '../parse.js'

const CHUNK = 60 * 1024
/** Exit statuses specific to nc (the others are p2pctl's usual ones). */
export const NC_EXIT = { refused: 1, lost: 4 } as const

interface Control { type: 'open' | 'eof' | 'error'; error?: { code: string; message: string; hint?: string } }

/** Register `nc`. */
export function register(program: Command): void {
  const cmd = program.command('nc')
    .description("pipe stdin to a port the peer exposes, and the replies to stdout (netcat over p2pd)")
    .argument('<peer>', 'peer name or key')
    .argument('<port>', "port on the peer's side")
    .option('--host <host>', "target host on the peer's side", 'localhost')
    .option('--udp', 'send each stdin chunk as one datagram; print each reply datagram')
    .option('--wait <seconds>', 'UDP: after stdin ends, wait this long for replies', '2')
    .action(async (peer: string, portText: string, opts: { host: string; udp?: boolean; wait: string }, self: Command) => {
      const ctx = contextOf(self)
      const port = parsePort(portText, 'PORT')
      const waitS = Number(opts.wait)
      if (!Number.isFinite(waitS) || waitS < 0) throw new UsageError(`--wait: "${opts.wait}" is not a number of seconds`)
      const q = new URLSearchParams({ peer, port: String(port), host: opts.host, ...(opts.udp ? { proto: 'udp' } : {}) })
      const ws = await ctx.client.openSocket(`/v1/nc?${q.toString()}`)
      process.exitCode = await pipe(ws, opts.udp === true, waitS * 1000)
    })
  examples(cmd,
    'p2pctl nc bob 7000 < request.txt > reply.txt',
    'tar c ./dir | p2pctl nc bob 9000          # on bob: nc -l 127.0.0.1 9000 | tar x, and p2pctl expose 9000 --peer alice',
    "printf 'ping' | p2pctl nc bob 5353 --udp")
}

/** Run the pipe until the far side is done; resolves with the exit status. */
function pipe(ws: WebSocket, udp: boolean, waitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let opened = false
    let failure: Control['error'] | null = null
    let udpTimer: NodeJS.Timeout | null = null
    const stdin = process.stdin
    const armUdpTimer = (): void => {
      if (udpTimer) clearTimeout(udpTimer)
      udpTimer = setTimeout(() => ws.close(1000), waitMs)
    }
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) {
        if (!process.stdout.write(data)) {
          ws.pause()
          process.stdout.once('drain', () => ws.resume())
        }
        if (udp && stdin.readableEnded) armUdpTimer()
        return
      }
      let c: Control
      try {
        c = JSON.parse(data.toString()) as Control
      } catch {
        return
      }
      if (c.type === 'open') {
        opened = true
        startStdin()
      } else if (c.type === 'error') failure = c.error ?? { code: 'INTERNAL', message: 'unknown error' }
      // 'eof' from the peer: nothing more will come; the daemon closes once both sides are done.
    })
    ws.on('close', (code: number) => {
      stdin.pause()
      if (failure) {
        reject(new ApiError(0, failure.code, failure.message, failure.hint))
        return
      }
      if (code === 1000 || code === 1005) resolve(0)
      else if (!opened) reject(new ApiError(0, 'REFUSED', `p2pd closed the pipe before it opened (code ${code})`))
      else resolve(NC_EXIT.lost)
    })
    ws.on('error', () => undefined)

    function startStdin(): void {
      stdin.on('data', (chunk: Buffer) => {
        for (let i = 0; i < chunk.length; i += CHUNK) {
          const part = chunk.subarray(i, i + CHUNK)
          ws.send(part, { binary: true }, () => {
            if (ws.bufferedAmount < 256 * 1024 && stdin.isPaused()) stdin.resume()
          })
        }
        if (ws.bufferedAmount > 1024 * 1024) stdin.pause()
      })
      stdin.on('end', () => {
        if (udp) armUdpTimer()
        else ws.send(JSON.stringify({ type: 'eof' }))
      })
      stdin.resume()
    }
  })
}
