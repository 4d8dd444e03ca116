// Builds the control API's fastify app without listening: the daemon attaches it to its Unix
// socket (listen.ts), tests drive it with app.inject().
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyInstance, FastifySchemaValidationError } from 'fastify'
import type { Logger } from 'pino'
import { installErrorHandlers } from './errors.js'
import { lazySerializerFactory, lazyValidatorFactory } from './lazy-schemas.js'
import { installGuard, type TcpGuardOptions } from './guard.js'
import { OpenApiCollector } from './openapi.js'
import { registerEventRoutes } from './routes/events.js'
import { registerNcRoutes } from './routes/nc.js'
import { registerExposeRoutes } from './routes/exposes.js'
import { registerForwardRoutes } from './routes/forwards.js'
import { registerInfoRoutes } from './routes/info.js'
import { registerMetricsRoute } from './routes/metrics.js'
import { registerNetcheckRoute } from './routes/netcheck.js'
import { registerPeerRoutes } from './routes/peers.js'
import type { ApiApp } from './routes/typed.js'
import type { DaemonApi } from './types.js'
import { requireCjs } from '../../protocol/cjs.js'

const websocket = requireCjs('@fastify/websocket') as typeof import('@fastify/websocket').default
const { default: Fastify, LogController } = requireCjs('fastify') as typeof import('fastify')

/** Request bodies are small JSON objects; anything bigger is a mistake or an attack. */
export const BODY_LIMIT_BYTES = 64 * 1024
/** Largest WebSocket message a client may send: p2pctl nc sends stdin in chunks up to this. */
export const WS_MAX_PAYLOAD_BYTES = 64 * 1024

/** What the API needs from the daemon. */
export interface AppDeps {
  api: DaemonApi
  /** pino logger for request logs; omitted or false = silent. */
  logger?: Logger | false
  /** Daemon version, shown in the OpenAPI document. */
  version: string
  /** Set for an app served on the loopback TCP listener: requires the bearer token. */
  tcpGuard?: TcpGuardOptions
  /** The Unix socket this app serves, accepted as a Host name besides loopback names. */
  socketPath?: string
  /** Compile every route's schemas at start (fastify's default) instead of on first use: tests, so a bad schema fails at once. */
  eagerSchemas?: boolean
}

// fastify's phrasing ("body/port must be <= 65535"), naming the field an unknown-field error is about.
function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const text = errors.map((e) => {
    const extra = e.keyword === 'additionalProperties' ? `: ${String(e.params.additionalProperty)}` : ''
    return `${dataVar}${e.instancePath} ${e.message ?? 'is invalid'}${extra}`
  })
  return new Error(text.join(', '))
}

/** Build the control API app (routes, validation, errors, OpenAPI, events); does not listen. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Every `p2pctl status` is a request: logging each would drown the journal; errors are logged.
  // fastify's own Ajv checks requests, without its defaults' type coercion ("8080" is not a
  // port), defaults or stripping: a request is taken as sent or refused.
  const ajv = { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false } }
  // Schemas are compiled on their route's first request, not all at start (lazy-schemas.ts).
  const lazy = deps.eagerSchemas ? {} : { schemaController: { compilersFactory: { buildValidator: lazyValidatorFactory(), buildSerializer: lazySerializerFactory() } } }
  const common = { bodyLimit: BODY_LIMIT_BYTES, logController: new LogController({ disableRequestLogging: true }), ajv, schemaErrorFormatter, ...lazy }
  const app: ApiApp = (deps.logger
    ? Fastify({ ...common, loggerInstance: deps.logger as FastifyBaseLogger })
    : Fastify({ ...common, logger: false })
  ).withTypeProvider<TypeBoxTypeProvider>()
  const root = app as unknown as FastifyInstance

  installErrorHandlers(root)
  const openapi = new OpenApiCollector()
  openapi.attach(root)

  await app.register(websocket, { options: { maxPayload: WS_MAX_PAYLOAD_BYTES } })
  // Every listener: loopback Host only, no browser (Origin/Referer) requests; TCP: the token too.
  // After the websocket plugin, whose own onRequest hook marks upgrades so that a refused upgrade's
  // socket is destroyed once the 403 is sent.
  installGuard(root, { ...(deps.tcpGuard ? { tcp: deps.tcpGuard } : {}), ...(deps.socketPath ? { socketPath: deps.socketPath } : {}) })

  registerInfoRoutes(app, deps.api)
  registerPeerRoutes(app, deps.api)
  registerForwardRoutes(app, deps.api)
  registerExposeRoutes(app, deps.api)
  registerEventRoutes(app, deps.api)
  registerMetricsRoute(app, deps.api)
  registerNetcheckRoute(app, deps.api)
  registerNcRoutes(app, deps.api)
  app.get('/v1/openapi.json', {
    schema: { summary: 'This document', tags: ['daemon'] },
  }, async () => openapi.document(deps.version))

  return root
}
