// What every command action needs: the API client built from the global options, the output
// mode, and the help-text convention.
import type { Command } from 'commander'
import { ApiClient, parseApiTarget } from './client.js'

/** Default API socket, the daemon's under systemd. */
export const DEFAULT_API = '/run/p2pd/p2pd.sock'

/** Per-invocation context of a command. */
export interface Ctx {
  client: ApiClient
  json: boolean
  /** A line (or block) on stdout. */
  out(text: string): void
  /** A line on stderr (progress, warnings). */
  err(text: string): void
  /** A value as JSON on stdout (pretty, for read verbs). */
  printJson(value: unknown): void
}

/** Build the context from the global options (--api, --json) seen by `cmd`. */
export function contextOf(cmd: Command): Ctx {
  const opts = cmd.optsWithGlobals<{ api?: string; json?: boolean }>()
  const target = parseApiTarget(opts.api ?? DEFAULT_API)
  // Only for an http:// target: the TCP listener wants a bearer token, the socket does not.
  const token = process.env.P2PD_API_TOKEN || undefined
  return {
    client: new ApiClient(target, token),
    json: opts.json === true,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    printJson: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  }
}

/** Append an "Examples:" section to a command's --help. */
export function examples(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`)
}

/** Path segment for a user-given id or name. */
export function seg(value: string): string {
  return encodeURIComponent(value)
}
