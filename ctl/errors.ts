// The three ways a p2pctl command fails, each with its own exit status (see bin.ts).

/** The daemon answered with an error ({ error: { code, message, hint } }). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly hint?: string) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Nothing is listening where the API should be. */
export class DaemonNotRunningError extends Error {
  constructor(readonly where: string) {
    super(`p2pd is not running (nothing listening on ${where}); start it with 'systemctl start p2pd' or 'p2pd --state-dir DIR --api-socket PATH'`)
    this.name = 'DaemonNotRunningError'
  }
}

/** A usage mistake on the command line (exit status 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** p2pctl's exit statuses. */
export const EXIT = { ok: 0, failed: 1, usage: 2, notRunning: 3 } as const
