// A small OpenAPI 3 generator: it records every route as it is registered (onRoute) and turns
// their typebox schemas, which are plain JSON Schema, into /v1/openapi.json. @fastify/swagger
// would do more; this is enough for curl users and code generators, and needs no dependency.
import type { FastifyInstance, RouteOptions } from 'fastify'
import { DaemonEvent, ErrorBody } from './schemas.js'

declare module 'fastify' {
  interface FastifySchema {
    /** One-line summary for the OpenAPI document. */
    summary?: string
    /** Longer description for the OpenAPI document. */
    description?: string
    /** Grouping for the OpenAPI document. */
    tags?: string[]
  }
}

interface RecordedRoute {
  method: string
  url: string
  schema: Record<string, unknown>
}

/** Collects routes as they are registered; call `attach` before registering any route. */
export class OpenApiCollector {
  private readonly routes: RecordedRoute[] = []

  /** Start recording the routes registered on `app` from now on. */
  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      for (const method of methods) {
        // fastify adds a HEAD twin for every GET; documenting it twice is noise.
        if (method === 'HEAD') continue
        this.routes.push({ method: method.toLowerCase(), url: route.url, schema: (route.schema ?? {}) as Record<string, unknown> })
      }
    })
  }

  /** The OpenAPI 3.0 document for every recorded route. */
  document(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {}
    for (const r of this.routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
      paths[path] ??= {}
      paths[path][r.method] = operation(r)
    }
    return {
      openapi: '3.0.3',
      info: { title: 'p2pd control API', version, description: 'Local control API of the p2pd daemon. Errors are { error: { code, message, hint? } }.' },
      paths,
      components: { schemas: { Error: plain(ErrorBody), DaemonEvent: plain(DaemonEvent) } },
    }
  }
}

// Typebox marks schemas with non-enumerable keys; a JSON round trip leaves the plain schema.
function plain(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema)) as unknown
}

function operation(r: RecordedRoute): Record<string, unknown> {
  const s = r.schema
  const op: Record<string, unknown> = {}
  if (typeof s.summary === 'string') op.summary = s.summary
  if (typeof s.description === 'string') op.description = s.description
  if (Array.isArray(s.tags)) op.tags = s.tags
  const params = s.params as { properties?: Record<string, unknown> } | undefined
  if (params?.properties) {
    op.parameters = Object.entries(params.properties).map(([name, schema]) => ({ name, in: 'path', required: true, schema: plain(schema) }))
  }
  if (s.body !== undefined) {
    op.requestBody = { required: true, content: { 'application/json': { schema: plain(s.body) } } }
  }
  const responses: Record<string, unknown> = {}
  for (const [status, schema] of Object.entries((s.response ?? {}) as Record<string, unknown>)) {
    const isEmpty = status === '204'
    responses[status] = isEmpty
      ? { description: 'no content' }
      : { description: 'success', content: { 'application/json': { schema: plain(schema) } } }
  }
  responses.default = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
  op.responses = responses
  return op
}
