// The API's one error path: every failure leaves as { error: { code, message, hint? } } with the
// status common/errors.ts assigns to its code, so clients switch on codes, never on text.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { httpStatusOf, isAppError, type ErrorCode } from '../../common/errors.js'

/** The JSON body of every error response. */
export interface ErrorBodyJson {
  error: { code: ErrorCode; message: string; hint?: string }
}

const SCHEMA_HINT = 'see GET /v1/openapi.json for the request schemas'

/** Build an error body (omitting an absent hint rather than sending null). */
export function errorBody(code: ErrorCode, message: string, hint?: string): ErrorBodyJson {
  return hint === undefined ? { error: { code, message } } : { error: { code, message, hint } }
}

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string'
}

/** Map any thrown value to a status and error body; logs what the client does not get to see. */
export function toErrorResponse(err: unknown, req: FastifyRequest): { status: number; body: ErrorBodyJson } {
  if (isAppError(err)) {
    const status = httpStatusOf[err.code] ?? 500
    if (status >= 500) req.log.warn({ err }, 'request failed')
    return { status, body: errorBody(err.code, err.message, err.hint) }
  }
  if (isFastifyError(err) && err.validation) {
    // fastify already phrases the first failure with its location ("body/port must be <= 65535").
    return { status: 400, body: errorBody('BAD_REQUEST', `invalid request: ${err.message}`, SCHEMA_HINT) }
  }
  if (isFastifyError(err) && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    // Malformed JSON, wrong content type, body too large: the client's fault, keep fastify's status.
    return { status: err.statusCode, body: errorBody('BAD_REQUEST', err.message, SCHEMA_HINT) }
  }
  req.log.error({ err }, 'unexpected error in API handler')
  return { status: 500, body: errorBody('INTERNAL', 'internal error in p2pd', "see the daemon's log (journalctl -u p2pd)") }
}

/** Install the error and not-found handlers on the root instance (before any route). */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = toErrorResponse(err, req)
    return reply.code(status).type('application/json').send(body)
  })
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    return reply.code(404).type('application/json').send(
      errorBody('NOT_FOUND', `no such API route: ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`, 'see GET /v1/openapi.json for the routes'),
    )
  })
}
