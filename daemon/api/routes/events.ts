// GET /v1/events: a WebSocket carrying every DaemonEvent as one JSON text message.
import { AppError } from '../../../common/errors.js'
import type { DaemonApi } from '../types.js'
import type { ApiApp } from './typed.js'

/** A subscriber this far behind is not reading; drop it rather than buffer without bound. */
export const MAX_BUFFERED_BYTES = 1024 * 1024

/** Register the /v1/events WebSocket route (needs @fastify/websocket registered first). */
export function registerEventRoutes(app: ApiApp, api: DaemonApi): void {
  app.route({
    method: 'GET',
    url: '/v1/events',
    schema: {
      summary: 'WebSocket stream of daemon events',
      description: 'Upgrade to a WebSocket; each text message is one DaemonEvent (see components.schemas.DaemonEvent) as JSON (peer, punch, forward, connection, expose, broker). Messages from the client are ignored.',
      tags: ['events'],
    },
    // A plain HTTP GET lands here: say what the endpoint is instead of an empty 404.
    handler: async () => {
      throw new AppError('BAD_REQUEST', 'GET /v1/events is a WebSocket endpoint', 'connect with a WebSocket client, e.g. p2pctl watch')
    },
    wsHandler: (socket) => {
      let subscribed = true
      const unsubscribe = api.subscribe((event) => {
        if (socket.readyState !== socket.OPEN) return
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          socket.close(1013, 'event consumer too slow')
          return
        }
        socket.send(JSON.stringify(event))
      })
      const stop = (): void => {
        if (!subscribed) return
        subscribed = false
        unsubscribe()
      }
      socket.on('close', stop)
      // The stream is one-way; reading (and dropping) client messages keeps ws's buffers empty.
      socket.on('message', () => undefined)
    },
  })
}
