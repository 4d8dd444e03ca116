// One pino root logger per process, to stderr; components take a child logger.
import { pino, type Logger } from 'pino'

export type { Logger }

/** Log levels accepted by --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

// pino copies the level into a child when it is made; to change the level of a running process
// (SIGHUP) every child must be told. Weak references: per-request children come and go.
const family = new WeakMap<Logger, Set<WeakRef<Logger>>>()

/** Create the process logger (JSON lines on stderr; secrets redacted). */
export function createLogger(opts: { level?: string; name: string }): Logger {
  const children = new Set<WeakRef<Logger>>()
  let sweepAt = 256
  const root = pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: ['secretKey', '*.secretKey', 'token', '*.token', 'seed', '*.seed'], censor: '[redacted]' },
      base: { pid: process.pid },
      // Inherited by children, so grandchildren are tracked too.
      onChild: (child) => {
        children.add(new WeakRef(child as Logger))
        if (children.size < sweepAt) return
        for (const ref of children) if (ref.deref() === undefined) children.delete(ref)
        sweepAt = Math.max(256, children.size * 2)
      },
    },
    pino.destination({ fd: 2, sync: false }),
  )
  family.set(root, children)
  return root
}

/** Set the level of a logger made by createLogger and of every child it has now. */
export function setLogLevel(root: Logger, level: string): void {
  root.level = level
  for (const ref of family.get(root) ?? []) {
    const child = ref.deref()
    if (child) child.level = level
  }
}
