// Expose routes: the access rules saying which peer may reach which local host:port.
import { Type } from '../json-schema.js'
import type { DaemonApi } from '../types.js'
import { AddExposeRequest, ExposeInfo, IdParams } from '../schemas.js'
import type { ApiApp } from './typed.js'

/** Register the /v1/exposes routes. */
export function registerExposeRoutes(app: ApiApp, api: DaemonApi): void {
  app.get('/v1/exposes', {
    schema: { summary: 'Access rules: which peer may reach which local target', tags: ['exposes'], response: { 200: Type.Array(ExposeInfo) } },
  }, async () => api.exposes())

  app.post('/v1/exposes', {
    schema: { summary: 'Allow a peer (or "*" for any peer) to reach a local host:port', tags: ['exposes'], body: AddExposeRequest, response: { 201: ExposeInfo } },
  }, async (req, reply) => reply.code(201).send(api.addExpose(req.body)))

  app.delete('/v1/exposes/:id', {
    schema: { summary: 'Remove an access rule by id', tags: ['exposes'], params: IdParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    api.removeExpose(req.params.id)
    return reply.code(204).send(null)
  })
}
