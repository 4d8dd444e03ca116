// Forward routes: local listeners that carry connections to a peer's host:port.
import { Type } from '../json-schema.js'
import type { DaemonApi } from '../types.js'
import { AddForwardRequest, ForwardInfo, IdParams } from '../schemas.js'
import type { ApiApp } from './typed.js'

/** Register the /v1/forwards routes. */
export function registerForwardRoutes(app: ApiApp, api: DaemonApi): void {
  app.get('/v1/forwards', {
    schema: { summary: 'Active forwards with connection and byte counters', tags: ['forwards'], response: { 200: Type.Array(ForwardInfo) } },
  }, async () => api.forwards())

  app.post('/v1/forwards', {
    schema: { summary: "Listen locally and carry each connection to a host:port on the peer's side", tags: ['forwards'], body: AddForwardRequest, response: { 201: ForwardInfo } },
  }, async (req, reply) => reply.code(201).send(await api.addForward(req.body)))

  app.delete('/v1/forwards/:id', {
    schema: { summary: 'Stop a forward, by id or by local port', tags: ['forwards'], params: IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await api.removeForward(req.params.id)
    return reply.code(204).send(null)
  })
}
