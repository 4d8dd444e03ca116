// The API compiles each route's schemas on its first request (lazy-schemas.ts); an app that
// compiles them all at start (fastify's default) must answer every request the same way.
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../../daemon/api/app.js'
import { BOB_KEY, FakeDaemonApi } from './fake-daemon-api.js'

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

async function app(eagerSchemas: boolean): Promise<FastifyInstance> {
  const a = await buildApp({ api: new FakeDaemonApi(), version: '9.9.9', eagerSchemas })
  apps.push(a)
  return a
}

type Req = { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: unknown }
const REQUESTS: Req[] = [
  { method: 'GET', url: '/v1/status' },
  { method: 'GET', url: '/v1/peers' },
  { method: 'POST', url: '/v1/peers', payload: { name: 'carol', key: 'c'.repeat(64) } },
  { method: 'POST', url: '/v1/peers', payload: { name: 'carol', key: 'c'.repeat(64), extra: 1 } },
  { method: 'POST', url: '/v1/peers', payload: { name: 'carol' } },
  { method: 'POST', url: `/v1/peers/${BOB_KEY}/ping` },
  { method: 'POST', url: '/v1/forwards', payload: { port: 9000, peer: 'bob', toPort: 22, proto: 'tcp' } },
  { method: 'POST', url: '/v1/forwards', payload: { port: '9000', peer: 'bob', proto: 'tcp' } },
  { method: 'POST', url: '/v1/forwards', payload: { port: 70000, peer: 'bob', proto: 'sctp' } },
  { method: 'POST', url: '/v1/exposes', payload: { port: 8080, peer: '*', proto: 'udp' } },
  { method: 'GET', url: '/v1/nc?peer=bob&port=99999' },
  { method: 'GET', url: '/v1/openapi.json' },
]

describe('schemas compiled on first use', () => {
  it('every route schema compiles (an eager app starts)', async () => {
    await expect((await app(true)).ready()).resolves.toBeDefined()
  })

  it.each(REQUESTS)('$method $url: the same answer as with schemas compiled at start', async (req) => {
    // Twice: the second request goes through the now compiled validator and serializer.
    const answers = async (a: FastifyInstance): Promise<string[]> => {
      const [r1, r2] = [await a.inject(req), await a.inject(req)]
      return [`${r1.statusCode} ${r1.body}`, `${r2.statusCode} ${r2.body}`]
    }
    expect(await answers(await app(false))).toEqual(await answers(await app(true)))
  })
})
