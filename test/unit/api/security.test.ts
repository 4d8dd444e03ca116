// Hostile requests against both real listeners (Unix socket and loopback TCP): a foreign Host, any
// Origin or Referer, a cross-origin text/plain POST, WebSocket upgrades from a foreign Origin, no
// token or a wrong one: all refused before any route runs. Size limits hold for bodies and
// WebSocket messages.
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BODY_LIMIT_BYTES, WS_MAX_PAYLOAD_BYTES, buildApp } from '../../../daemon/api/app.js'
import { listenTcp, listenUnix } from '../../../daemon/api/listen.js'
import { FakeDaemonApi } from './fake-daemon-api.js'

const TOKEN = 'k'.repeat(32)
const AUTH = { authorization: `Bearer ${TOKEN}` }
let dir: string
let api: FakeDaemonApi
let unixApp: FastifyInstance
let tcpApp: FastifyInstance
let sock: string
let port: number

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2ps-'))
  api = new FakeDaemonApi()
  sock = join(dir, 'p2pd.sock')
  unixApp = await buildApp({ api, version: 't', socketPath: sock })
  await listenUnix(unixApp, sock)
  tcpApp = await buildApp({ api, version: 't', tcpGuard: { token: TOKEN } })
  port = Number(new URL(await listenTcp(tcpApp, '127.0.0.1', 0)).port)
})
afterAll(async () => {
  await unixApp.close()
  await tcpApp.close()
  await rm(dir, { recursive: true, force: true })
})

type Listener = 'unix' | 'tcp'
interface Req { method?: string; path?: string; headers?: Record<string, string>; body?: string }

// A raw HTTP request with exactly these headers (Host included) to one listener.
function send(to: Listener, r: Req): Promise<{ status: number; body: string }> {
  const where = to === 'unix' ? { socketPath: sock } : { host: '127.0.0.1', port }
  const headers = { host: to === 'unix' ? 'localhost' : `127.0.0.1:${port}`, ...(to === 'tcp' ? AUTH : {}), ...r.headers }
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method: r.method ?? 'GET', path: r.path ?? '/v1/id', headers, setHost: false, agent: false }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(r.body)
  })
}

// Attempt a WebSocket upgrade on /v1/events; resolves 'open' or the refusal's HTTP status.
function upgrade(to: Listener, headers: Record<string, string>, origin?: string): Promise<'open' | number> {
  const url = to === 'unix' ? `ws+unix://${sock}:/v1/events` : `ws://127.0.0.1:${port}/v1/events`
  const ws = new WebSocket(url, { headers: { ...(to === 'tcp' ? AUTH : {}), ...headers }, ...(origin ? { origin } : {}) })
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate()
      resolve('open')
    })
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.once('error', (e) => reject(e))
  })
}

const peerPost = JSON.stringify({ name: 'eve', key: 'e'.repeat(64) })
const HOSTILE: [string, Req, Listener[], number][] = [
  ['foreign Host', { headers: { host: 'evil.example' } }, ['unix', 'tcp'], 403],
  ['rebound DNS name with port', { headers: { host: 'evil.example:7657' } }, ['unix', 'tcp'], 403],
  ['loopback-looking name', { headers: { host: 'localhost.evil.example' } }, ['unix', 'tcp'], 403],
  ['empty Host', { headers: { host: '' } }, ['unix', 'tcp'], 403],
  ['foreign Origin', { headers: { origin: 'https://evil.example' } }, ['unix', 'tcp'], 403],
  ['loopback Origin (another local page)', { headers: { origin: 'http://localhost:3000' } }, ['unix', 'tcp'], 403],
  ['opaque Origin', { headers: { origin: 'null' } }, ['unix', 'tcp'], 403],
  ['Referer', { headers: { referer: 'https://evil.example/page' } }, ['unix', 'tcp'], 403],
  ['cross-origin text/plain POST', { method: 'POST', path: '/v1/peers', body: peerPost, headers: { 'content-type': 'text/plain', origin: 'https://evil.example' } }, ['unix', 'tcp'], 403],
  ['text/plain POST without Origin', { method: 'POST', path: '/v1/peers', body: peerPost, headers: { 'content-type': 'text/plain' } }, ['unix', 'tcp'], 400],
  ['no token', { headers: { authorization: '' } }, ['tcp'], 401],
  ['wrong token', { headers: { authorization: `Bearer ${'x'.repeat(32)}` } }, ['tcp'], 401],
  ['token as Basic', { headers: { authorization: `Basic ${TOKEN}` } }, ['tcp'], 401],
]

describe.each(['unix', 'tcp'] as const)('%s listener', (to) => {
  it('answers a proper request', async () => {
    expect((await send(to, {})).status).toBe(200)
    expect(await upgrade(to, {})).toBe('open')
  })

  it.each(HOSTILE.filter(([, , on]) => on.includes(to)).map(([what, req, , status]) => [what, req, status] as const))('refuses %s', async (_what, req, status) => {
    const before = api.calls.length
    const res = await send(to, req)
    expect(res.status).toBe(status)
    expect(JSON.parse(res.body).error.code).toMatch(/FORBIDDEN|UNAUTHORIZED|BAD_REQUEST|UNSUPPORTED|FST_/)
    expect(api.calls.length).toBe(before)
  })

  it('refuses WebSocket upgrades from a foreign Origin, Host or Referer', async () => {
    expect(await upgrade(to, {}, 'https://evil.example')).toBe(403)
    expect(await upgrade(to, {}, 'http://localhost:3000')).toBe(403)
    expect(await upgrade(to, { host: 'evil.example' })).toBe(403)
    expect(await upgrade(to, { referer: 'https://evil.example/' })).toBe(403)
    if (to === 'tcp') {
      expect(await upgrade(to, { authorization: '' })).toBe(401)
      expect(await upgrade(to, { authorization: `Bearer ${'x'.repeat(32)}` })).toBe(401)
    }
    expect(api.listeners.size).toBe(0)
  })

  it('limits body and WebSocket message sizes', async () => {
    const big = JSON.stringify({ name: 'eve', key: 'e'.repeat(64), pad: 'x'.repeat(BODY_LIMIT_BYTES) })
    expect((await send(to, { method: 'POST', path: '/v1/peers', body: big, headers: { 'content-type': 'application/json' } })).status).toBe(413)
    const url = to === 'unix' ? `ws+unix://${sock}:/v1/events` : `ws://127.0.0.1:${port}/v1/events`
    const ws = new WebSocket(url, { headers: to === 'tcp' ? AUTH : {} })
    await new Promise((r, j) => ws.once('open', r).once('error', j))
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
    ws.send('x'.repeat(WS_MAX_PAYLOAD_BYTES + 1))
    expect(await closed).toBe(1009)
  })
})

describe('the Unix socket accepts its own name as Host', () => {
  it.each(['localhost', 'localhost:80', '127.0.0.1', '[::1]:80'])('Host: %s', async (host) => {
    expect((await send('unix', { headers: { host } })).status).toBe(200)
  })
  it('Host: the socket path, encoded or plain, or its file name', async () => {
    for (const host of [sock, encodeURIComponent(sock), 'p2pd.sock']) expect((await send('unix', { headers: { host } })).status, host).toBe(200)
    // ... but the TCP listener does not accept those.
    expect((await send('tcp', { headers: { host: 'p2pd.sock' } })).status).toBe(403)
  })
})
