// GET /v1/netcheck: a fresh look at the network (brokers' round trips, NAT mapping and port
// allocation, per-interface verdicts, IPv6, hairpinning). Takes a second or two.
import { AppError } from '../../../common/errors.js'
import { NetcheckInfo } from '../schemas.js'
import type { DaemonApi } from '../types.js'
import type { ApiApp } from './typed.js'

/** Register GET /v1/netcheck. */
export function registerNetcheckRoute(app: ApiApp, api: DaemonApi): void {
  app.get('/v1/netcheck', {
    schema: { summary: 'Check the network now: broker RTTs, NAT mapping and allocation, interfaces, IPv6, hairpin', tags: ['daemon'], response: { 200: NetcheckInfo } },
  }, async () => {
    if (!api.netcheck) throw new AppError('NOT_FOUND', 'this daemon runs no network check', 'GET /v1/status has the last known NAT classification')
    return api.netcheck()
  })
}
