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
      const nc = new NcSession(opts.udp === true, waitS * 1000)
      const ws = await ctx.client.openSocket(`/v1/nc?${q.toString()}`, { message: (d, b) => nc.onMessage(d, b), close: (code) => nc.onClose(code) })
      process.exitCode = await nc.run(ws)
    })
  examples(cmd,
    'p2pctl nc bob 7000 < request.txt > reply.txt',
    'tar c ./dir | p2pctl nc bob 9000          # on bob: nc -l 127.0.0.1 9000 | tar x, and p2pctl expose 9000 --peer alice',
    "printf 'ping' | p2pctl nc bob 5353 --udp")
}

/** One nc run: stdin to the socket, the socket to stdout, until the far side is done. */
class NcSession {
  private ws: WebSocket | null = null
  private opened = false
  private failure: Control['error'] | null = null
  private closeCode: number | null = null
  private udpTimer: NodeJS.Timeout | null = null
  private settle: ((code: number) => void) | null = null
  private fail: ((err: Error) => void) | null = null

  constructor(private readonly udp: boolean, private readonly waitMs: number) {}

  /** Resolves with the exit status once the socket closes. */
  run(ws: WebSocket): Promise<number> {
    this.ws = ws
    return new Promise((resolve, reject) => {
      this.settle = resolve
      this.fail = reject
      if (this.opened) this.startStdin()
      if (this.closeCode !== null) this.finish()
    })
  }

  onMessage(data: Buffer, binary: boolean): void {
    if (binary) {
      if (!process.stdout.write(data)) {
        this.ws?.pause()
        process.stdout.once('drain', () => this.ws?.resume())
      }
      if (this.udp && process.stdin.readableEnded) this.armUdpTimer()
      return
    }
    let c: Control
    try {
      c = JSON.parse(data.toString()) as Control
    } catch {
      return
    }
    if (c.type === 'open') {
      this.opened = true
      if (this.ws) this.startStdin()
    } else if (c.type === 'error') this.failure = c.error ?? { code: 'INTERNAL', message: 'unknown error' }
    // 'eof' from the peer: nothing more will come; the daemon closes once both sides are done.
  }

  onClose(code: number): void {
    this.closeCode = code
    if (this.settle) this.finish()
  }

  private finish(): void {
    process.stdin.pause()
    const code = this.closeCode ?? 1006
    if (this.failure) this.fail!(new ApiError(0, this.failure.code, this.failure.message, this.failure.hint))
    else if (code === 1000 || code === 1005) this.settle!(0)
    else if (!this.opened) this.fail!(new ApiError(0, 'REFUSED', `p2pd closed the pipe before it opened (code ${code})`))
    else this.settle!(NC_EXIT.lost)
  }

  private armUdpTimer(): void {
    if (this.udpTimer) clearTimeout(this.udpTimer)
    this.udpTimer = setTimeout(() => this.ws?.close(1000), this.waitMs)
  }

  private startStdin(): void {
    const ws = this.ws!
    const stdin = process.stdin
    stdin.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i += CHUNK) {
        ws.send(chunk.subarray(i, i + CHUNK), { binary: true }, () => {
          if (ws.bufferedAmount < 256 * 1024 && stdin.isPaused()) stdin.resume()
        })
      }
      if (ws.bufferedAmount > 1024 * 1024) stdin.pause()
    })
    stdin.on('end', () => {
      if (this.udp) this.armUdpTimer()
      else ws.send(JSON.stringify({ type: 'eof' }))
    })
    stdin.resume()
  }
}
