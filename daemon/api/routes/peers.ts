// Peer routes: list, pin a name to a key, forget, connect, ping.
import { Type } from '../json-schema.js'
import type { DaemonApi } from '../types.js'
import { AddPeerRequest, PeerInfo, PeerParams, PingResult } from '../schemas.js'
import type { ApiApp } from './typed.js'

/** Register the /v1/peers routes. */
export function registerPeerRoutes(app: ApiApp, api: DaemonApi): void {
  app.get('/v1/peers', {
    schema: { summary: 'Known peers, their state and active path', tags: ['peers'], response: { 200: Type.Array(PeerInfo) } },
  }, async () => api.peers())

  app.post('/v1/peers', {
    schema: { summary: 'Pin a local name to a peer key', tags: ['peers'], body: AddPeerRequest, response: { 201: PeerInfo } },
  }, async (req, reply) => reply.code(201).send(api.addPeer(req.body.name, req.body.key)))

  app.delete('/v1/peers/:peer', {
    schema: { summary: 'Forget a pinned peer', tags: ['peers'], params: PeerParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    api.removePeer(req.params.peer)
    return reply.code(204).send(null)
  })

  app.post('/v1/peers/:peer/connect', {
    schema: {
      summary: 'Punch and authenticate a path to a peer',
      description: 'Waits until the peer is connected or the attempt fails; progress is streamed as punch events on /v1/events.',
      tags: ['peers'], params: PeerParams, response: { 200: PeerInfo },
    },
  }, async (req) => api.connect(req.params.peer))

  app.post('/v1/peers/:peer/ping', {
    schema: { summary: 'One round trip over the peer session (connects first if needed)', tags: ['peers'], params: PeerParams, response: { 200: PingResult } },
  }, async (req) => api.ping(req.params.peer))
}
