// Readiness for systemd (Type=notify). Node cannot open the AF_UNIX datagram socket that
// sd_notify(3) needs, so when systemd asks for a notification (NOTIFY_SOCKET is set) we run
// systemd-notify(1), which waits until the manager has processed the message; the unit needs
// NotifyAccess=all because the sender is that helper, not our main process.
import { execFile } from 'node:child_process'

/** Why readiness could not be reported; the hint says what to check. */
export class NotifyError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message)
    this.name = 'NotifyError'
  }
}

/** Options for notifyReady (tests point `command` at a stub). */
export interface NotifyOptions {
  env?: NodeJS.ProcessEnv
  pid?: number
  command?: string
  status?: string
  timeoutMs?: number
}

/** Tell systemd we are ready, if it asked (NOTIFY_SOCKET set); returns whether a notification was sent. */
export async function notifyReady(opts: NotifyOptions = {}): Promise<boolean> {
  const env = opts.env ?? process.env
  if (!env.NOTIFY_SOCKET) return false
  const args = ['--ready', `--pid=${opts.pid ?? process.pid}`]
  if (opts.status) args.push(`--status=${opts.status}`)
  const command = opts.command ?? 'systemd-notify'
  await new Promise<void>((resolve, reject) => {
    execFile(command, args, { env, timeout: opts.timeoutMs ?? 10_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve()
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${command} not found` : `${command} failed: ${stderr.trim() || err.message}`
      reject(new NotifyError(`cannot report readiness to systemd: ${why}`, 'install systemd (it ships systemd-notify), or use Type=simple in the unit'))
    })
  })
  return true
}
