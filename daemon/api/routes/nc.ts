// GET /v1/nc?peer=P&port=N[&host=H][&proto=udp]: a WebSocket bridged to a pipe to the peer's
// target, for `p2pctl nc`. Binary messages carry the bytes (TCP) or one datagram each (UDP).
// Text messages are control: {"type":"open"} once the pipe is up; {"type":"eof"} in either
// direction half-closes; {"type":"error","error":{code,message,hint}} precedes a 4xxx close.
import type { WebSocket } from 'ws'
import { Type } from '../json-schema.js'
import { AppError, isAppError } from '../../../common/errors.js'
import type { DaemonApi, PeerPipe } from '../types.js'
import type { ApiApp } from './typed.js'

/** Close codes p2pctl maps to exit statuses. */
export const NC_CLOSE = { ok: 1000, refused: 4001, lost: 4002, bad: 4003 } as const
// Stop reading the peer while this much is queued toward the client.
const HIGH_WATER = 1024 * 1024

const Query = Type.Object({
  peer: Type.String({ minLength: 1, maxLength: 64 }),
  // A query string is text, and requests are checked without type coercion: digits, 1-65535.
  port: Type.String({ pattern: '^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$', description: 'port on the peer, 1-65535' }),
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  proto: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')])),
}, { additionalProperties: false })

/** Register the /v1/nc WebSocket route. */
export function registerNcRoutes(app: ApiApp, api: DaemonApi): void {
  app.route({
    method: 'GET',
    url: '/v1/nc',
    schema: {
      summary: 'WebSocket pipe to a port the peer exposes (p2pctl nc)',
      description: 'Binary messages are data (TCP) or datagrams (UDP); text {"type":"eof"} half-closes; the server sends {"type":"open"} first, or {"type":"error",...} and closes with 4001 (refused), 4002 (path lost) or 4003 (bad request).',
      tags: ['peers'],
      querystring: Query,
    },
    handler: async () => {
      throw new AppError('BAD_REQUEST', 'GET /v1/nc is a WebSocket endpoint', 'use: p2pctl nc PEER PORT')
    },
    wsHandler: (socket, req) => {
      const q = req.query as { peer: string; port: string; host?: string; proto?: 'tcp' | 'udp' }
      void bridge(socket, api, q.peer, q.proto ?? 'tcp', q.host ?? 'localhost', Number(q.port))
    },
  })
}

function fail(ws: WebSocket, err: unknown, code: number): void {
  const e = isAppError(err) ? err.toJSON() : { code: 'INTERNAL', message: (err as Error).message }
  if (ws.readyState === ws.OPEN) {
    ws.send(JSON.stringify({ type: 'error', error: e }))
    ws.close(code, e.code)
  }
}

function closeCodeFor(err: unknown): number {
  const code = isAppError(err) ? err.code : ''
  if (code === 'NOT_EXPOSED' || code === 'TARGET_REFUSED' || code === 'PEER_UNKNOWN' || code === 'PEER_OFFLINE' || code === 'PEER_KEY_CHANGED') return NC_CLOSE.refused
  if (code === 'BAD_REQUEST') return NC_CLOSE.bad
  return NC_CLOSE.lost
}

async function bridge(ws: WebSocket, api: DaemonApi, peer: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<void> {
  // Client bytes that arrive while the pipe opens wait here (bounded by the socket's own limits).
  const early: { data: Buffer; binary: boolean }[] = []
  const buffer = (data: Buffer, binary: boolean): void => void early.push({ data, binary })
  ws.on('message', buffer)
  let pipe: PeerPipe
  try {
    pipe = await api.openPipe(peer, proto, host, port)
  } catch (err) {
    fail(ws, err, closeCodeFor(err))
    return
  }
  ws.off('message', buffer)
  if (ws.readyState !== ws.OPEN) {
    if (pipe.proto === 'tcp') pipe.stream.destroy()
    else pipe.close()
    return
  }
  ws.send(JSON.stringify({ type: 'open' }))
  if (pipe.proto === 'udp') bridgeUdp(ws, pipe)
  else bridgeTcp(ws, pipe.stream)
  for (const m of early) ws.emit('message', m.data, m.binary)
}

function isEof(data: Buffer, binary: boolean): boolean {
  if (binary) return false
  try {
    return (JSON.parse(data.toString()) as { type?: string }).type === 'eof'
  } catch {
    return false
  }
}

function bridgeTcp(ws: WebSocket, stream: import('node:stream').Duplex): void {
  let queued = 0
  let paused = false
  stream.on('data', (d: Buffer) => {
    queued += d.length
    ws.send(d, { binary: true }, () => {
      queued -= d.length
      if (paused && queued < HIGH_WATER / 2) {
        paused = false
        stream.resume()
      }
    })
    if (!paused && queued >= HIGH_WATER) {
      paused = true
      stream.pause()
    }
  })
  stream.on('end', () => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'eof' }))
  })
  stream.on('error', (err: Error) => fail(ws, new AppError('SESSION_LOST', `the stream to the peer failed: ${err.message}`), NC_CLOSE.lost))
  stream.on('close', () => {
    if (ws.readyState === ws.OPEN) ws.close(NC_CLOSE.ok)
  })
  stream.on('drain', () => ws.resume())
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (isEof(data, binary)) {
      stream.end()
      return
    }
    if (!binary) return
    if (!stream.write(data)) ws.pause()
  })
  ws.on('close', () => {
    if (!stream.destroyed) stream.destroy()
  })
}

function bridgeUdp(ws: WebSocket, pipe: Extract<PeerPipe, { proto: 'udp' }>): void {
  pipe.onDatagram((d) => {
    if (ws.readyState === ws.OPEN && ws.bufferedAmount < HIGH_WATER) ws.send(d, { binary: true })
  })
  pipe.onClose(() => {
    if (ws.readyState === ws.OPEN) ws.close(NC_CLOSE.ok)
  })
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (isEof(data, binary)) return
    if (binary) pipe.send(data)
  })
  ws.on('close', () => pipe.close())
}
