// Read-only routes about the daemon itself: health, status, identity, interfaces.
import { Type } from '../json-schema.js'
import type { DaemonApi } from '../types.js'
import { Health, IdInfo, InterfaceInfo, StatusInfo } from '../schemas.js'
import type { ApiApp } from './typed.js'

/** Register GET /v1/health, /v1/status, /v1/id and /v1/interfaces. */
export function registerInfoRoutes(app: ApiApp, api: DaemonApi): void {
  app.get('/v1/health', {
    schema: { summary: 'Liveness check', tags: ['daemon'], response: { 200: Health } },
  }, async () => ({ ok: true as const }))

  app.get('/v1/status', {
    schema: { summary: 'Identity, brokers, NAT, interfaces, peers and forwards at a glance', tags: ['daemon'], response: { 200: StatusInfo } },
  }, async () => api.status())

  app.get('/v1/id', {
    schema: { summary: "This daemon's name and public key (its peer id)", tags: ['daemon'], response: { 200: IdInfo } },
  }, async () => api.id())

  app.get('/v1/interfaces', {
    schema: { summary: 'Local interface addresses and their UDP endpoints', tags: ['daemon'], response: { 200: Type.Array(InterfaceInfo) } },
  }, async () => api.interfaces())
}
