// The daemon's API as p2pctl sees it: JSON over HTTP on a Unix socket or a loopback URL, and the
// /v1/events WebSocket. Every failure becomes one of three errors the entry point knows how to say.
import { request, type RequestOptions } from 'node:http'
import { createRequire } from 'node:module'
import { resolve as resolvePath } from 'node:path'
import type WebSocket from 'ws'
import type { DaemonEvent, ErrorBody } from './api-types.js'
import { ApiError, DaemonNotRunningError, UsageError } from './errors.js'

/** Where the API lives: a Unix socket path or an http:// base URL. */
export type ApiTarget = { kind: 'unix'; path: string } | { kind: 'http'; url: URL }

/** Parse --api: an http:// URL, or else a socket path (made absolute). */
export function parseApiTarget(text: string): ApiTarget {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      throw new UsageError(`invalid --api URL: ${text}`)
    }
    if (url.protocol !== 'http:') throw new UsageError(`--api URL must be http://HOST:PORT (the API listens on loopback only, without TLS), not ${text}`)
    return { kind: 'http', url }
  }
  if (text === '') throw new UsageError('--api needs a socket path or an http:// URL')
  return { kind: 'unix', path: resolvePath(text) }
}

/** A daemon is down when its socket is missing or refuses connections. */
function isDaemonDown(target: ApiTarget, err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNREFUSED' || (target.kind === 'unix' && err.code === 'ENOENT')
}

/** Requests may wait for a punch, which the daemon bounds itself; this only catches a wedged daemon. */
const REQUEST_TIMEOUT_MS = 120_000

/** An open /v1/events subscription. */
export interface EventStream {
  close(): void
  /** Settles when the stream ends: resolves if we closed it, rejects if the daemon did. */
  readonly ended: Promise<void>
}

/** A thin client of the control API. */
export class ApiClient {
  constructor(readonly target: ApiTarget, private readonly token?: string) {}

  /** Human name of the target, for messages. */
  get where(): string {
    return this.target.kind === 'unix' ? this.target.path : this.target.url.origin
  }

  /** GET a JSON resource. */
  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path)
  }

  /** POST (with an optional JSON body) and return the JSON answer. */
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body)
  }

  /** DELETE a resource. */
  async del(path: string): Promise<void> {
    await this.call<unknown>('DELETE', path)
  }

  private headers(body: string | undefined): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' }
    // No content-type without a body: fastify rejects an empty body declared as JSON.
    if (body !== undefined) h['content-type'] = 'application/json'
    if (this.token && this.target.kind === 'http') h.authorization = `Bearer ${this.token}`
    return h
  }

  private call<T>(method: string, path: string, payload?: unknown): Promise<T> {
    const body = payload === undefined ? undefined : JSON.stringify(payload)
    const base: RequestOptions = { method, path, headers: this.headers(body), agent: false, timeout: REQUEST_TIMEOUT_MS }
    const opts: RequestOptions = this.target.kind === 'unix'
      ? { ...base, socketPath: this.target.path }
      : { ...base, host: this.target.url.hostname.replace(/^\[|\]$/g, ''), port: Number(this.target.url.port || 80) }
    return new Promise<T>((resolve, reject) => {
      const req = request(opts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          const status = res.statusCode ?? 0
          let json: unknown
          try {
            json = text === '' ? undefined : JSON.parse(text)
          } catch {
            json = undefined
          }
          if (status >= 200 && status < 300) return resolve(json as T)
          const e = (json as Partial<ErrorBody> | undefined)?.error
          if (e && typeof e.code === 'string' && typeof e.message === 'string') return reject(new ApiError(status, e.code, e.message, e.hint))
          reject(new ApiError(status, `HTTP_${status}`, `p2pd answered ${method} ${path} with HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`))
        })
      })
      req.on('timeout', () => req.destroy(new Error(`p2pd did not answer ${method} ${path} within ${REQUEST_TIMEOUT_MS / 1000} s`)))
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.translate(err)))
      req.end(body)
    })
  }

  private translate(err: NodeJS.ErrnoException): Error {
    if (isDaemonDown(this.target, err)) return new DaemonNotRunningError(this.where)
    if (err.code === 'EACCES') return new ApiError(0, 'EACCES', `permission denied on ${this.where}`, 'add your user to the p2pd group (then log in again), or run as root')
    return err
  }

  /**
   * Open a raw WebSocket to `path` (with query); resolves once open. The handlers are attached
   * before the socket opens, so nothing the daemon sends at once (an error, say) is missed.
   */
  async openSocket(path: string, on: { message: (data: Buffer, binary: boolean) => void; close: (code: number) => void }): Promise<WebSocket> {
    const WebSocket = await loadWs()
    const url = this.target.kind === 'unix' ? `ws+unix://${this.target.path}:${path}` : `ws://${this.target.url.host}${path}`
    const headers = this.token && this.target.kind === 'http' ? { authorization: `Bearer ${this.token}` } : undefined
    const ws = new WebSocket(url, { headers, maxPayload: 1024 * 1024 })
    ws.on('message', (data: Buffer, binary: boolean) => on.message(data, binary))
    return new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => {
        ws.on('error', () => undefined) // after open, failures surface as 'close'
        ws.on('close', (code: number) => on.close(code))
        resolve(ws)
      })
      ws.once('error', (err: NodeJS.ErrnoException) => reject(this.translate(err)))
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => {
          try {
            const e = (JSON.parse(body) as { error: { code: string; message: string; hint?: string } }).error
            reject(new ApiError(res.statusCode ?? 0, e.code, e.message, e.hint))
          } catch {
            reject(new ApiError(res.statusCode ?? 0, `HTTP_${res.statusCode ?? 0}`, `p2pd refused the connection (HTTP ${res.statusCode ?? 0})`))
          }
          ws.terminate()
        })
      })
    })
  }

  /** Open /v1/events; resolves once subscribed, so nothing emitted afterwards is missed. */
  async openEvents(onEvent: (event: DaemonEvent) => void): Promise<EventStream> {
    const WebSocket = await loadWs()
    const url = this.target.kind === 'unix'
      ? `ws+unix://${this.target.path}:/v1/events`
      : `ws://${this.target.url.host}/v1/events`
    const headers = this.token && this.target.kind === 'http' ? { authorization: `Bearer ${this.token}` } : undefined
    const ws = new WebSocket(url, { headers, maxPayload: 1024 * 1024 })
    let closing = false
    const ended = new Promise<void>((resolve, reject) => {
      ws.on('close', () => (closing ? resolve() : reject(new Error(`p2pd closed the event stream on ${this.where}`))))
    })
    ended.catch(() => undefined) // observed by whoever awaits it; never an unhandled rejection
    ws.on('message', (data: WebSocket.RawData) => {
      let event: DaemonEvent
      try {
        event = JSON.parse(data.toString()) as DaemonEvent
      } catch {
        return // a newer daemon may send something we do not know; skipping it is harmless
      }
      onEvent(event)
    })
    return new Promise<EventStream>((resolve, reject) => {
      ws.once('open', () => {
        ws.on('error', () => undefined) // after open, failures surface as 'close'
        resolve({ close: () => { closing = true; ws.close() }, ended })
      })
      ws.once('error', (err: NodeJS.ErrnoException) => reject(this.translate(err)))
      ws.once('unexpected-response', (_req, res) => {
        closing = true
        reject(new ApiError(res.statusCode ?? 0, `HTTP_${res.statusCode ?? 0}`, `p2pd refused the event stream (HTTP ${res.statusCode ?? 0})`))
        ws.terminate()
      })
    })
  }
}

// ws costs milliseconds to load: only the verbs that stream (connect, watch, nc) pay it. It is
// CommonJS: require() takes 14-16 ms where import() took 35-37 (node's ESM loader runs its
// CommonJS lexer, WebAssembly, over each module), and connect waits for it before it asks.
async function loadWs(): Promise<typeof WebSocket> {
  return createRequire(import.meta.url)('ws') as typeof WebSocket
}
