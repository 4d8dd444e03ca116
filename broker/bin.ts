#!/usr/bin/env node
// p2p-broker: the rendezvous server. Prints one "listening <proto> HOST:PORT" line per listener on
// stdout once ready (scripts and tests read the actual ports from it), logs JSON to stderr.
import { randomBytes } from 'node:crypto'
import { Command, CommanderError } from 'commander'
import { createLogger } from '../common/logger.js'
import { formatHostPort, onShutdown } from '../common/lifecycle.js'
import { Broker } from './broker.js'
import { ConfigError, ENV, resolveConfig, type BrokerConfig, type CliOptions } from './config.js'
import { startHttp, type HttpEndpoint } from './http.js'
import { NameStore } from './name-store.js'
import { notifyReady } from '../common/notify.js'

const EXAMPLES = `
Examples:
  # a public broker on UDP 7000, health and counters on localhost:7001, names kept across restarts
  p2p-broker --listen 0.0.0.0:7000 --listen 0.0.0.0:7002 --http 127.0.0.1:7001 --state-dir /var/lib/p2p-broker
  curl -s http://127.0.0.1:7001/stats

  # then, on each peer:  p2pd --broker broker.example.org:7000 --name alice
  # Two --listen ports let peers classify their NAT's mapping behaviour.

Environment (a flag wins over its variable):
  ${ENV.listen}=0.0.0.0:7000,0.0.0.0:7002   ${ENV.http}   ${ENV.stateDir}
  ${ENV.lease}   ${ENV.relay}=true|false   ${ENV.relayRate}   ${ENV.relayLifetime}   ${ENV.relayMax}
  ${ENV.relayMaxPerKey}   ${ENV.relayAllowPrivate}=true|false   ${ENV.rateLimit}   ${ENV.logLevel}

Relay: when two peers cannot punch a direct path (both behind endpoint-dependent NATs, or UDP
between them blocked) the broker forwards their datagrams between the two addresses that
proved their keys, and nowhere else; it cannot read them (Noise, end to end). Quotas per
allocation: --relay-rate, --relay-lifetime; in number: --relay-max, --relay-max-per-key.
/stats shows the relay's allocations, bytes and drops. --no-relay turns it off.

On start it prints one line per listener on stdout, e.g.
  listening udp 0.0.0.0:7000
  listening tcp 0.0.0.0:7000 (reflection: tells a peer its public TCP mapping)
  listening http 127.0.0.1:7001
`

function parseArgs(argv: string[]): CliOptions {
  const program = new Command('p2p-broker')
    .description('Rendezvous server for p2pd: peers register signed by their key, the broker reflects '
      + 'their public address and introduces two peers to each other so that they can punch a hole.')
    .option('--listen <host:port>', 'UDP address to serve, repeatable (default 0.0.0.0:7000); TCP reflection listens on the same host:port', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--http <host:port>', 'serve GET /health and /stats (JSON) here')
    .option('--state-dir <dir>', 'keep bound names in DIR/names.json across restarts')
    .option('--lease <seconds>', 'how long a registration lives without a refresh (default 90)')
    .option('--relay', 'relay (still end-to-end encrypted) between introduced peers that cannot punch a direct path (the default)')
    .option('--no-relay', 'do not relay: peers that cannot punch fail to connect')
    .option('--relay-rate <bytes/s>', 'cap per relay allocation and direction, e.g. 8M, 500k; 0 = none (default 8M)')
    .option('--relay-lifetime <seconds>', 'an allocation ends this long after it was made; the peers then re-punch (default 3600)')
    .option('--relay-max <n>', 'most relay allocations at once (default 256)')
    .option('--relay-max-per-key <n>', 'most relay allocations one peer takes part in (default 8)')
    .option('--relay-allow-private', 'also relay to loopback and private addresses (a broker on a LAN, tests); link-local and metadata addresses stay refused')
    .option('--rate-limit <n>', 'datagrams per second accepted from one source IP, burst 2n (default 50)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--check-config', 'validate the flags and environment, print the resolved settings as JSON, exit (0 ok, 2 bad); binds nothing')
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .showSuggestionAfterError(true)
  program.parse(argv)
  return program.opts<CliOptions & { checkConfig?: boolean }>()
}

function fail(message: string, code: number): never {
  process.stderr.write(`p2p-broker: ${message}\n`)
  process.exit(code)
}

async function main(): Promise<void> {
  let config: BrokerConfig
  let checkOnly = false
  try {
    const cli = parseArgs(process.argv)
    checkOnly = (cli as { checkConfig?: boolean }).checkConfig === true
    config = resolveConfig(cli, process.env)
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its one line (or the help text).
      process.exit(e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' ? 0 : 2)
    }
    if (e instanceof ConfigError) fail(e.message, 2)
    throw e
  }

  if (checkOnly) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`)
    process.exit(0)
  }

  const log = createLogger({ name: 'p2p-broker', level: config.logLevel })
  const store = config.stateDir === null ? null : new NameStore(config.stateDir, log)
  const broker = new Broker(
    { listen: config.listen, clock: { now: () => Date.now() }, random: (n) => randomBytes(n), logger: log, store },
    {
      leaseS: config.leaseS, rateLimit: { ratePerS: config.rateLimit, burst: config.rateLimit * 2 },
      relay: config.relay ? { limits: config.relayLimits, policy: { allowPrivate: config.relayAllowPrivate } } : null,
    },
  )

  let udp
  try {
    udp = await broker.start()
  } catch (e) {
    fail(`cannot start: ${(e as Error).message}`, 1)
  }
  let http: HttpEndpoint | null = null
  if (config.http !== null) {
    try {
      http = await startHttp(config.http, broker, log)
    } catch (e) {
      await broker.close()
      fail(`--http ${formatHostPort(config.http.host, config.http.port)}: cannot listen: ${(e as Error).message}`, 1)
    }
  }

  onShutdown(log, async () => {
    await http?.close()
    await broker.close()
  })

  const lines = udp.map((a) => `listening udp ${formatHostPort(a.host, a.port)}`)
  lines.push(...broker.tcpAddresses().map((a) => `listening tcp ${formatHostPort(a.host, a.port)}`))
  if (http !== null) lines.push(`listening http ${formatHostPort(http.address.host, http.address.port)}`)
  process.stdout.write(lines.join('\n') + '\n')
  await notifyReady({ status: lines.join(', ') }).catch((err: unknown) => log.error({ err }, 'could not notify systemd'))
}

main().catch((e: unknown) => fail(`fatal: ${(e as Error).stack ?? String(e)}`, 1))
