// One pino root logger per process, to stderr; components take a child logger.
import { pino, type Logger } from 'pino'

export type { Logger }

/** Log levels accepted by --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Create the process logger (JSON lines on stderr; secrets redacted). */
export function createLogger(opts: { level?: string; name: string }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: ['secretKey', '*.secretKey', 'token', '*.token', 'seed', '*.seed'], censor: '[redacted]' },
      base: { pid: process.pid },
    },
    pino.destination({ fd: 2, sync: false }),
  )
}
