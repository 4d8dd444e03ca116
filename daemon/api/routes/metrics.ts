// GET /metrics: Prometheus text exposition (prom-client), for a scraper on this machine. It passes
// the same guards as every route: on the TCP listener a scraper sends the bearer token.
import { AppError } from '../../../common/errors.js'
import type { DaemonApi } from '../types.js'
import type { ApiApp } from './typed.js'

/** Register GET /metrics. */
export function registerMetricsRoute(app: ApiApp, api: DaemonApi): void {
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics (text exposition format 0.0.4)',
      description: 'Counters (datagrams, drops by reason, probes, sessions, punch stages, forward bytes) and gauges (peers by state, paths by kind, brokers, forward connections), plus process metrics.',
      tags: ['daemon'],
    },
  }, async (_req, reply) => {
    if (!api.metrics) throw new AppError('NOT_FOUND', 'this daemon serves no metrics', 'GET /v1/status has the same facts as JSON')
    const { contentType, text } = await api.metrics()
    return reply.type(contentType).send(text)
  })
}
