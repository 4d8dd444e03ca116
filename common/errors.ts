/** Stable error codes shared by the daemon, its API and the CLI. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'PEER_UNKNOWN'
  | 'PEER_KEY_CHANGED'
  | 'PEER_NAME_TAKEN'
  | 'PEER_OFFLINE'
  | 'PUNCH_TIMEOUT'
  | 'NO_BROKER'
  | 'BROKER_ERROR'
  | 'NOT_EXPOSED'
  | 'TARGET_REFUSED'
  | 'PORT_IN_USE'
  | 'FORWARD_EXISTS'
  | 'FORWARD_UNKNOWN'
  | 'EXPOSE_UNKNOWN'
  | 'SESSION_LOST'
  | 'CONFIG_INVALID'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'INTERNAL'

/** HTTP status each code maps to in the control API. */
export const httpStatusOf: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  PEER_UNKNOWN: 404,
  PEER_KEY_CHANGED: 409,
  PEER_NAME_TAKEN: 409,
  PEER_OFFLINE: 404,
  PUNCH_TIMEOUT: 504,
  NO_BROKER: 503,
  BROKER_ERROR: 502,
  NOT_EXPOSED: 403,
  TARGET_REFUSED: 502,
  PORT_IN_USE: 409,
  FORWARD_EXISTS: 409,
  FORWARD_UNKNOWN: 404,
  EXPOSE_UNKNOWN: 404,
  SESSION_LOST: 502,
  CONFIG_INVALID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  INTERNAL: 500,
}

/** An error a user can act on: a stable code, a message, and a hint saying what to do. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly hint: string | undefined

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message)
    this.name = 'AppError'
    this.code = code
    this.hint = hint
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint }
  }
}

/** True when `e` is an AppError (also across module copies). */
export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AppError' && typeof (e as { code?: unknown }).code === 'string')
}
