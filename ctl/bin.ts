#!/usr/bin/env node
// p2pctl: a thin client of p2pd's control API. Each verb is one or a few API calls; human
// output by default, --json for scripts. Exit status: 0 ok, 1 failed, 2 usage, 3 daemon down.
import { Command, CommanderError } from 'commander'
import { register as connect } from './commands/connect.js'
import { register as expose } from './commands/expose.js'
import { register as exposes } from './commands/exposes.js'
import { register as forward } from './commands/forward.js'
import { register as forwards } from './commands/forwards.js'
import { register as id } from './commands/id.js'
import { register as interfaces } from './commands/interfaces.js'
import { register as nc } from './commands/nc.js'
import { register as netcheck } from './commands/netcheck.js'
import { register as peer } from './commands/peer.js'
import { register as peers } from './commands/peers.js'
import { register as ping } from './commands/ping.js'
import { register as status } from './commands/status.js'
import { register as unexpose } from './commands/unexpose.js'
import { register as unforward } from './commands/unforward.js'
import { register as watch } from './commands/watch.js'
import { DEFAULT_API } from './context.js'
import { ApiError, DaemonNotRunningError, EXIT, UsageError } from './errors.js'
import { packageVersion } from './version.js'

const USAGE_HINT = "hint: run 'p2pctl --help' (or 'p2pctl COMMAND --help') for usage"

/** Build the commander program with every verb registered. */
export function buildProgram(): Command {
  const program = new Command('p2pctl')
    .description('Control p2pd: peers, hole-punched paths, port forwards and access rules.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--api <path|url>', 'daemon API: Unix socket path or http://HOST:PORT (env P2PD_API)', process.env.P2PD_API || DEFAULT_API)
    .option('--json', 'print JSON for scripts instead of tables')
    .helpOption('-h, --help', 'show help')
    .helpCommand(false)
    // Commander must not exit by itself: the exit status is ours to choose (usage errors are 2).
    // Subcommands inherit these settings, so they come before any register().
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`p2pctl: ${str.replace(/^error: /, '').trimEnd()}\n${USAGE_HINT}\n`),
    })
  for (const reg of [status, id, interfaces, peers, peer, connect, ping, forward, forwards, unforward, expose, unexpose, exposes, nc, watch, netcheck]) reg(program)
  program.addHelpText('after', `
Examples:
  $ p2pctl status
  $ p2pctl peer add bob 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29
  $ p2pctl expose 22 --peer alice                 # on bob
  $ p2pctl forward 2222 --peer bob --to 22        # on alice, then: ssh -p 2222 localhost
  $ p2pctl --api http://127.0.0.1:7657 peers --json

Environment:
  P2PD_API        default for --api (otherwise ${DEFAULT_API})
  P2PD_API_TOKEN  bearer token sent when --api is an http:// URL

Exit status: 0 ok, 1 the daemon reported an error (nc: the peer refused), 2 usage error,
3 p2pd is not running, 4 nc: the path to the peer was lost.
`)
  return program
}

/** Print a failure as one line (plus an optional hint line) and pick the exit status. */
function report(err: unknown): number {
  const say = (line: string): void => {
    process.stderr.write(`${line}\n`)
  }
  if (err instanceof CommanderError) {
    // Commander already printed help, the version, or the usage error via outputError.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage
  }
  if (err instanceof UsageError) {
    say(`p2pctl: ${err.message}`)
    return EXIT.usage
  }
  if (err instanceof DaemonNotRunningError) {
    say(`p2pctl: ${err.message}`)
    return EXIT.notRunning
  }
  if (err instanceof ApiError) {
    say(`p2pctl: ${err.message}`)
    if (err.hint) say(`hint: ${err.hint}`)
    return EXIT.failed
  }
  say(`p2pctl: ${err instanceof Error ? err.message : String(err)}`)
  return EXIT.failed
}

async function main(argv: string[]): Promise<number> {
  // `p2pctl peers | head -1` closes our stdout early; that is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok)
  })
  try {
    await buildProgram().parseAsync(argv)
    return EXIT.ok
  } catch (err) {
    return report(err)
  }
}

// Exit explicitly: a lingering socket must not keep a finished command alive.
main(process.argv).then((code) => process.exit(code), (err: unknown) => process.exit(report(err)))
