// One pino root logger per process; components take a child logger. Where the lines go:
// - under systemd (JOURNAL_STREAM or INVOCATION_ID set): JSON lines on stdout, for the journal;
// - on a terminal (stderr is a TTY): short readable lines on stderr;
// - otherwise (pipes, tests): JSON lines on stderr.
// Secrets (keys' secret halves, seeds, API tokens, Authorization headers) are redacted everywhere.
import type { DestinationStream, Logger } from 'pino'
import { requireCjs } from '../protocol/cjs.js'

const { pino } = requireCjs('pino') as typeof import('pino')

export type { Logger }

/** Log levels accepted by --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Paths pino replaces with "[redacted]" in every line. */
export const REDACT_PATHS = [
  'secretKey', '*.secretKey', '*.*.secretKey', 'seed', '*.seed', 'token', '*.token', '*.*.token', 'apiToken', '*.apiToken',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'password', '*.password',
]

/** Where and how log lines are written. */
export interface LogTarget {
  format: 'json' | 'pretty'
  fd: 1 | 2
}

/** Pick the log target from the environment and whether stderr is a terminal. */
export function logTarget(env: NodeJS.ProcessEnv, stderrIsTty: boolean): LogTarget {
  if (env.JOURNAL_STREAM || env.INVOCATION_ID) return { format: 'json', fd: 1 }
  return { format: stderrIsTty ? 'pretty' : 'json', fd: 2 }
}

// pino copies the level into a child when it is made; to change the level of a running process
// (SIGHUP) every child must be told. Weak references: per-request children come and go.
const family = new WeakMap<Logger, Set<WeakRef<Logger>>>()

/** Create the process logger; `destination` overrides the target (tests). */
export function createLogger(opts: { level?: string; name: string; target?: LogTarget; destination?: DestinationStream }): Logger {
  const children = new Set<WeakRef<Logger>>()
  let sweepAt = 256
  const target = opts.target ?? logTarget(process.env, process.stderr.isTTY === true)
  const destination = opts.destination
    ?? (target.format === 'pretty' ? prettyStream(target.fd) : pino.destination({ fd: target.fd, sync: false }))
  const root = pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      // Inherited by children, so grandchildren are tracked too.
      onChild: (child) => {
        children.add(new WeakRef(child as Logger))
        if (children.size < sweepAt) return
        for (const ref of children) if (ref.deref() === undefined) children.delete(ref)
        sweepAt = Math.max(256, children.size * 2)
      },
    },
    destination,
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

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'component', 'v'])

/** One JSON log line as a short readable line: "12:34:56.789 WARN  peers: msg key=value …". */
export function formatPretty(line: string): string {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line.endsWith('\n') ? line : line + '\n'
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : ''
  const level = (LEVEL_NAMES[o.level as number] ?? String(o.level)).padEnd(5)
  const who = typeof o.component === 'string' ? `${o.component}: ` : ''
  const rest = Object.entries(o).filter(([k]) => !OMIT.has(k)).map(([k, v]) => `${k}=${fmtValue(k, v)}`)
  return `${time} ${level} ${who}${String(o.msg ?? '')}${rest.length ? ' ' + rest.join(' ') : ''}\n`
}

function fmtValue(key: string, v: unknown): string {
  if (key === 'err' && v && typeof v === 'object') {
    const e = v as { message?: unknown; stack?: unknown }
    return JSON.stringify(String(e.message ?? '')) + (typeof e.stack === 'string' ? '\n' + e.stack.split('\n').slice(1).join('\n') : '')
  }
  return typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)
}

function prettyStream(fd: 1 | 2): DestinationStream {
  const out = fd === 1 ? process.stdout : process.stderr
  return { write: (line: string) => void out.write(formatPretty(line)) }
}
