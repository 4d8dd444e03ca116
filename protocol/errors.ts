/** Why a datagram or control message was rejected. Stable: used as a counter label. */
export type ProtocolErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'BAD_TYPE'
  | 'TOO_LONG'
  | 'BAD_VALUE'
  | 'TRAILING_BYTES'

/** The only error protocol decoders throw. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode

  constructor(code: ProtocolErrorCode, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}
