import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import WebSocket from 'ws'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AppError, httpStatusOf, type ErrorCode } from '../../../common/errors.js'
import { buildApp } from '../../../daemon/api/app.js'
import { waitFor } from '../../helpers/wait-for.js'
import { BOB_KEY, FakeDaemonApi } from './fake-daemon-api.js'

let api: FakeDaemonApi
let app: FastifyInstance

beforeEach(async () => {
  api = new FakeDaemonApi()
  app = await buildApp({ api, version: '9.9.9' })
})
afterEach(async () => {
  await app.close()
})

describe('read routes', () => {
  it('GET /v1/health', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/health' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ ok: true })
  })

  it('GET /v1/status returns the status shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/status' })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(Object.keys(body).sort()).toEqual(['brokers', 'forwards', 'interfaces', 'key', 'name', 'nat', 'peers', 'uptimeS', 'version'])
    expect(body.nat).toEqual({ mapping: 'endpoint-independent', allocation: 'port-preserving', publicAddresses: ['203.0.113.2'] })
    expect(body.brokers[0]).toEqual({ address: 'broker.example:7000', state: 'registered', rttMs: 12.5, publicAddress: '203.0.113.2:4000' })
  })

  it('GET /v1/id, /v1/interfaces, /v1/peers, /v1/forwards, /v1/exposes', async () => {
    expect((await app.inject({ url: '/v1/id' })).json()).toEqual({ name: 'alice', key: 'a'.repeat(64) })
    expect((await app.inject({ url: '/v1/interfaces' })).json()).toEqual(api.ifaceList)
    const peers = await app.inject({ url: '/v1/peers' })
    expect(peers.statusCode).toBe(200)
    expect(peers.json()).toEqual([{ name: 'bob', key: BOB_KEY, state: 'connected', lastError: null, path: { kind: 'direct', proto: 'udp', local: '192.168.1.2:4000', remote: '203.0.113.7:5000', rttMs: 1.5 } }])
    expect((await app.inject({ url: '/v1/forwards' })).json()).toEqual(api.forwardList)
    expect((await app.inject({ url: '/v1/exposes' })).json()).toEqual(api.exposeList)
  })

  it('drops fields the contract does not name', async () => {
    api.exposeList = [{ id: 'e9', proto: 'udp', target: 'localhost:53', peer: '*', secret: 'x' } as never]
    expect((await app.inject({ url: '/v1/exposes' })).json()).toEqual([{ id: 'e9', proto: 'udp', target: 'localhost:53', peer: '*' }])
  })
})

describe('write routes', () => {
  it('POST /v1/peers -> 201 PeerInfo; DELETE -> 204', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/peers', payload: { name: 'carol', key: 'c'.repeat(64) } })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toEqual({ name: 'carol', key: 'c'.repeat(64), state: 'idle', path: null, lastError: null })
    const del = await app.inject({ method: 'DELETE', url: '/v1/peers/carol' })
    expect(del.statusCode).toBe(204)
    expect(del.body).toBe('')
    expect(api.calls.at(-1)).toEqual({ method: 'removePeer', args: ['carol'] })
  })

  it('POST connect and ping', async () => {
    const c = await app.inject({ method: 'POST', url: '/v1/peers/bob/connect' })
    expect(c.statusCode).toBe(200)
    expect(c.json().state).toBe('connected')
    const p = await app.inject({ method: 'POST', url: `/v1/peers/${BOB_KEY}/ping` })
    expect(p.statusCode).toBe(200)
    expect(p.json()).toEqual({ rttMs: 2.25, path: api.peerList[0]!.path })
  })

  it('POST /v1/forwards passes the body through; DELETE by id or port', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/forwards', payload: { port: 9000, peer: 'bob', toPort: 22, proto: 'tcp' } })
    expect(res.statusCode).toBe(201)
    expect(api.calls.at(-1)).toEqual({ method: 'addForward', args: [{ port: 9000, peer: 'bob', toPort: 22, proto: 'tcp' }] })
    expect(res.json()).toMatchObject({ bind: '127.0.0.1:9000', to: 'localhost:22', proto: 'tcp', connections: 0 })
    expect((await app.inject({ method: 'DELETE', url: '/v1/forwards/9000' })).statusCode).toBe(204)
    expect((await app.inject({ method: 'DELETE', url: '/v1/forwards/f1' })).statusCode).toBe(204)
    expect(api.forwardList).toEqual([])
  })

  it('POST /v1/exposes -> 201; DELETE -> 204', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/exposes', payload: { port: 8080, peer: '*', proto: 'udp' } })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toEqual({ id: 'e2', proto: 'udp', target: 'localhost:8080', peer: '*' })
    expect((await app.inject({ method: 'DELETE', url: '/v1/exposes/e2' })).statusCode).toBe(204)
  })
})

describe('errors', () => {
  it.each<[ErrorCode, string]>([
    ['PEER_UNKNOWN', 'connect'], ['PEER_KEY_CHANGED', 'connect'], ['PUNCH_TIMEOUT', 'connect'], ['NO_BROKER', 'connect'],
  ])('AppError %s maps to its status with code, message and hint', async (code) => {
    api.fail.set('connect', new AppError(code, `boom ${code}`, 'do this'))
    const res = await app.inject({ method: 'POST', url: '/v1/peers/bob/connect' })
    expect(res.statusCode).toBe(httpStatusOf[code])
    expect(res.json()).toEqual({ error: { code, message: `boom ${code}`, hint: 'do this' } })
  })

  it('AppError without a hint has no hint key', async () => {
    api.fail.set('addForward', new AppError('PORT_IN_USE', 'port 8080 is in use'))
    const res = await app.inject({ method: 'POST', url: '/v1/forwards', payload: { port: 8080, peer: 'bob', proto: 'tcp' } })
    expect(res.statusCode).toBe(409)
    expect(res.json()).toEqual({ error: { code: 'PORT_IN_USE', message: 'port 8080 is in use' } })
  })

  it('real fake errors: unknown forward, taken name', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/forwards/nope' })
    expect(res.statusCode).toBe(404)
    expect(res.json().error.code).toBe('FORWARD_UNKNOWN')
    const taken = await app.inject({ method: 'POST', url: '/v1/peers', payload: { name: 'bob', key: BOB_KEY } })
    expect(taken.statusCode).toBe(409)
    expect(taken.json().error).toMatchObject({ code: 'PEER_NAME_TAKEN', hint: 'p2pctl peer remove bob' })
  })

  it('an unexpected error is a generic 500 INTERNAL', async () => {
    api.fail.set('peers', new TypeError('secret internals'))
    const res = await app.inject({ url: '/v1/peers' })
    expect(res.statusCode).toBe(500)
    expect(res.json().error.code).toBe('INTERNAL')
    expect(res.body).not.toContain('secret internals')
  })

  it('logs an unexpected error (with its stack) to the pino logger', async () => {
    const lines: string[] = []
    const logger = pino({ level: 'info' }, { write: (l: string) => { lines.push(l) } })
    const logged = await buildApp({ api, logger, version: 'test' })
    api.fail.set('peers', new TypeError('secret internals'))
    expect((await logged.inject({ url: '/v1/peers' })).statusCode).toBe(500)
    await logged.close()
    const entry = lines.map((l) => JSON.parse(l)).find((e) => e.msg === 'unexpected error in API handler')
    expect(entry?.err?.message).toBe('secret internals')
    expect(lines.some((l) => l.includes('incoming request'))).toBe(false)
  })

  it.each([
    ['port out of range', { port: 70000, peer: 'bob', proto: 'tcp' }, 'port'],
    ['port as a string', { port: '8080', peer: 'bob', proto: 'tcp' }, 'port'],
    ['missing peer', { port: 8080, proto: 'tcp' }, 'peer'],
    ['bad proto', { port: 8080, peer: 'bob', proto: 'sctp' }, 'proto'],
    ['unknown field', { port: 8080, peer: 'bob', proto: 'tcp', tohost: 'x' }, 'tohost'],
  ])('validation: %s -> 400 BAD_REQUEST', async (_what, payload, mentions) => {
    const res = await app.inject({ method: 'POST', url: '/v1/forwards', payload })
    expect(res.statusCode).toBe(400)
    const { error } = res.json()
    expect(error.code).toBe('BAD_REQUEST')
    expect(error.message).toContain('body')
    expect(JSON.stringify(error)).toContain(mentions)
    expect(error.hint).toMatch(/openapi/)
    expect(api.calls.some((c) => c.method === 'addForward')).toBe(false)
  })

  it('validation: missing fields on peers, bad JSON, oversize body', async () => {
    const missing = await app.inject({ method: 'POST', url: '/v1/peers', payload: { name: 'x' } })
    expect(missing.statusCode).toBe(400)
    expect(missing.json().error.code).toBe('BAD_REQUEST')
    const bad = await app.inject({ method: 'POST', url: '/v1/peers', headers: { 'content-type': 'application/json' }, payload: '{"name":' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('BAD_REQUEST')
    const big = await app.inject({ method: 'POST', url: '/v1/peers', payload: { name: 'x', key: 'k'.repeat(70_000) } })
    expect(big.statusCode).toBe(413)
    expect(big.json().error.code).toBe('BAD_REQUEST')
  })

  it('unknown route -> 404 JSON NOT_FOUND', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/nope?x=1' })
    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toMatch(/application\/json/)
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such API route: GET /v1/nope', hint: expect.stringMatching(/openapi/) } })
  })

  it('/v1/nc takes its port from the query string as digits, 1-65535', async () => {
    // Past validation, a plain GET gets the handler's "WebSocket endpoint" answer.
    const ok = await app.inject({ url: '/v1/nc?peer=bob&port=65535' })
    expect(ok.statusCode).toBe(400)
    expect(ok.json().error.message).toMatch(/WebSocket/)
    for (const port of ['0', '65536', '8080x', '-1', '']) {
      const res = await app.inject({ url: `/v1/nc?peer=bob&port=${port}` })
      expect(res.statusCode, port).toBe(400)
      expect(res.json().error.message, port).toMatch(/port/)
    }
  })

  it('plain GET on the WebSocket endpoint says what it is', async () => {
    const res = await app.inject({ url: '/v1/events' })
    expect(res.statusCode).toBe(400)
    expect(res.json().error.message).toMatch(/WebSocket/)
  })
})

describe('openapi', () => {
  it('lists every route with its schemas', async () => {
    const res = await app.inject({ url: '/v1/openapi.json' })
    expect(res.statusCode).toBe(200)
    const doc = res.json()
    expect(doc.openapi).toMatch(/^3\./)
    expect(doc.info.version).toBe('9.9.9')
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`)).sort()
    expect(ops).toEqual([
      'DELETE /v1/exposes/{id}', 'DELETE /v1/forwards/{id}', 'DELETE /v1/peers/{peer}',
      'GET /metrics', 'GET /v1/events', 'GET /v1/exposes', 'GET /v1/forwards', 'GET /v1/health', 'GET /v1/id', 'GET /v1/interfaces',
      'GET /v1/nc', 'GET /v1/netcheck', 'GET /v1/openapi.json', 'GET /v1/peers', 'GET /v1/status',
      'POST /v1/exposes', 'POST /v1/forwards', 'POST /v1/peers', 'POST /v1/peers/{peer}/connect', 'POST /v1/peers/{peer}/ping',
    ])
    const post = doc.paths['/v1/forwards'].post
    expect(post.requestBody.content['application/json'].schema.properties.port).toMatchObject({ type: 'integer', minimum: 1, maximum: 65535 })
    expect(post.responses['201']).toBeDefined()
    expect(doc.paths['/v1/peers/{peer}'].delete.parameters).toEqual([expect.objectContaining({ name: 'peer', in: 'path' })])
  })
})

describe('events websocket', () => {
  it('streams each event as one JSON message and unsubscribes on close', async () => {
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/events`)
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const got: unknown[] = []
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString())))
    await waitFor(() => api.listeners.size === 1, { what: 'subscription' })
    ws.send('ignored')
    api.emit({ type: 'punch', peer: 'bob', stage: 'probing', detail: '3 candidates' })
    api.emit({ type: 'expose', action: 'added', expose: api.exposeList[0]! })
    await waitFor(() => got.length === 2, { what: 'two events' })
    expect(got[0]).toEqual({ type: 'punch', peer: 'bob', stage: 'probing', detail: '3 candidates' })
    expect(got[1]).toMatchObject({ type: 'expose', action: 'added' })
    ws.terminate()
    await waitFor(() => api.listeners.size === 0, { what: 'unsubscribe' })
  })
})

describe('tcp guard', () => {
  const token = 't'.repeat(32)
  let guarded: FastifyInstance
  beforeEach(async () => {
    guarded = await buildApp({ api, version: 'test', tcpGuard: { token } })
  })
  afterEach(async () => {
    await guarded.close()
  })
  const auth = { authorization: `Bearer ${token}` }

  it('accepts the token from a loopback host', async () => {
    for (const host of ['localhost:7657', '127.0.0.1:7657', '[::1]:7657', 'localhost']) {
      const res = await guarded.inject({ url: '/v1/id', headers: { ...auth, host } })
      expect(res.statusCode, host).toBe(200)
    }
    // Any Origin is a browser acting for some page, even a loopback one: refused (security.test.ts).
    const sameOrigin = await guarded.inject({ url: '/v1/id', headers: { ...auth, host: 'localhost:7657', origin: 'http://localhost:7657' } })
    expect(sameOrigin.statusCode).toBe(403)
  })

  it.each([
    ['no token', {}, 401, 'UNAUTHORIZED'],
    ['wrong token', { authorization: `Bearer ${'u'.repeat(32)}` }, 401, 'UNAUTHORIZED'],
    ['short token', { authorization: 'Bearer ttt' }, 401, 'UNAUTHORIZED'],
    ['rebound DNS name', { ...auth, host: 'evil.example:7657' }, 403, 'FORBIDDEN'],
    ['cross-origin page', { ...auth, origin: 'https://evil.example' }, 403, 'FORBIDDEN'],
  ])('refuses %s', async (_what, headers, status, code) => {
    const res = await guarded.inject({ method: 'POST', url: '/v1/peers', headers, payload: { name: 'eve', key: 'e'.repeat(64) } })
    expect(res.statusCode).toBe(status)
    expect(res.json().error.code).toBe(code)
    expect(api.calls.some((c) => c.method === 'addPeer')).toBe(false)
  })

  it('guards unknown routes too; without tcpGuard no token is needed', async () => {
    expect((await guarded.inject({ url: '/v1/nope' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/v1/id' })).statusCode).toBe(200)
  })
})
