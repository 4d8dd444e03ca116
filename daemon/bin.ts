#!/bin/sh
//bin/true; exec env MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --v8-pool-size=1 "$0" "$@"
// p2pd: the daemon. Flags > env (P2PD_*) > config file; see --help.
// The first two lines start node with what it reads only at start, for a small idle footprint
// (README, "Memory"): a young generation of 1 MB semi-spaces instead of up to 16 MB (it had grown
// to 16 MB during start-up and stayed there until V8's memory reducer ran, if it did), one V8
// worker thread instead of four, and two malloc arenas instead of one per thread. sh runs line 2
// (//bin/true is /bin/true), and to JavaScript it is a comment; any POSIX sh does this, where
// `#!/usr/bin/env -S` needs GNU env (busybox's, on Alpine, has no -S). The bench starts its
// daemons from that line (bench/launcher.ts); `node dist/daemon/bin.js` gets node's defaults.
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { createLogger, setLogLevel, type Logger } from '../common/logger.js'
import { formatHostPort, onShutdown } from '../common/lifecycle.js'
import { ConfigError, KEYS, changedKeys, formatConfig, loadConfig, type DaemonConfig, type RawConfig } from './config.js'
import { StateStore } from './state-store.js'
import { Daemon } from './daemon.js'
import { buildApp } from './api/app.js'
import { listenTcp, listenUnix } from './api/listen.js'
import { isAppError } from '../common/errors.js'
import { notifyReady } from '../common/notify.js'
import { requireCjs } from '../protocol/cjs.js'

const { Command, Option } = requireCjs('commander') as typeof import('commander')

const HEAP_GROWING_PERCENT = 300

// The data path's buffers live off the heap, so V8 sees a small heap with little allocation and
// keeps its old-generation limit close to the live size: in a bulk transfer the buffers that
// outlive two scavenges then set off a major GC every few hundred milliseconds (dozens per GiB,
// a third of the receiver's CPU). Let the old generation grow to 4x its live size first; this
// costs nothing idle (the limit is not memory) and a few MB at most under load.
setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

const program = new Command('p2pd')
  .description('p2pd: punches encrypted paths to peers behind NATs and forwards ports through them.\nDrive it with p2pctl.')
  .version(version)
  .addOption(new Option('--config <file>', 'TOML config file (keys: ' + Object.values(KEYS).map((k) => k.toml).join(', ') + ')').env('P2PD_CONFIG'))
  .option('--state-dir <dir>', KEYS.stateDir.doc)
  .option('--name <name>', KEYS.name.doc)
  .option('--broker <host:port>', KEYS.brokers.doc + ' (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
  .option('--port <n>', KEYS.port.doc)
  .option('--api-socket <path>', KEYS.apiSocket.doc)
  .option('--api-listen <host:port>', KEYS.apiListen.doc)
  .option('--log-level <level>', KEYS.logLevel.doc)
  .option('--keepalive <seconds>', KEYS.keepaliveS.doc)
  .option('--interface-allow <rule>', KEYS.interfacesAllow.doc + ' (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
  .option('--interface-deny <rule>', KEYS.interfacesDeny.doc + ' (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
  .option('--no-tcp', 'UDP paths only: no TCP listener, no TCP hole punching')
  .option('--check-config', 'validate flags, environment and config file, print the resolved settings and exit (0 = valid, 2 = invalid); binds nothing')
  .addHelpText('after', `
Every flag is also an environment variable (P2PD_STATE_DIR, P2PD_BROKER=a:7000,b:7000, ...) and a
config-file key; flags win over the environment, which wins over the file. SIGHUP re-reads them
and applies log_level, brokers and interfaces_allow/deny; other changes are logged as needing a restart.

Example:
  $ p2pd --name alice --broker broker.example.net:7000 --state-dir ~/.p2pd --api-socket /tmp/p2pd-alice.sock
  $ P2PD_API=/tmp/p2pd-alice.sock p2pctl status`)
  .action(async (flags: Flags) => {
    const fromFlags = flagLayer(flags)
    let cfg: DaemonConfig
    try {
      cfg = await loadConfig(flags.config, fromFlags, process.env)
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`p2pd: ${e.message}\n`)
        process.exit(2)
      }
      throw e
    }
    if (flags.checkConfig) {
      process.stdout.write(`# p2pd: configuration is valid (${flags.config ? `file ${flags.config}, ` : ''}environment, flags)\n${formatConfig(cfg)}`)
      return
    }
    const log = createLogger({ name: 'p2pd', level: cfg.logLevel })
    if (cfg.brokers.length === 0) log.warn('no --broker given: this daemon can be reached by no one and reach no one; add --broker HOST:PORT')
    const store = new StateStore(cfg.stateDir)
    let daemon: Daemon
    let app: Awaited<ReturnType<typeof buildApp>>
    let tcpApp: Awaited<ReturnType<typeof buildApp>> | null = null
    try {
      await store.init()
      const keyPair = await store.identity()
      const state = await store.load()
      daemon = new Daemon({ name: cfg.name, brokers: cfg.brokers, port: cfg.port, keepaliveMs: cfg.keepaliveS * 1000, version, interfacesAllow: cfg.interfacesAllow, interfacesDeny: cfg.interfacesDeny, tcp: cfg.tcp }, { keyPair, state, store, logger: log })
      await daemon.start()
      app = await buildApp({ api: daemon, logger: log.child({ component: 'api' }), version, socketPath: cfg.apiSocket })
      await listenUnix(app, cfg.apiSocket)
      if (cfg.apiListen) {
        // A second app: the TCP listener wants the bearer token; the socket relies on its mode.
        const token = await store.apiToken()
        tcpApp = await buildApp({ api: daemon, logger: log.child({ component: 'api-tcp' }), version, tcpGuard: { token } })
        await listenTcp(tcpApp, cfg.apiListen.host, cfg.apiListen.port)
      }
    } catch (e) {
      const msg = isAppError(e) ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : (e as Error).message
      process.stderr.write(`p2pd: cannot start: ${msg}\n`)
      log.flush()
      process.exit(1)
    }
    const id = daemon.id()
    const udp = daemon.endpoint.address()
    process.stdout.write(`p2pd ready name=${id.name} key=${id.key} udp=${formatHostPort(udp.host, udp.port)} api=${cfg.apiSocket}\n`)
    log.info({ name: id.name, key: id.key, udp, api: cfg.apiSocket, brokers: cfg.brokers }, 'p2pd ready')
    onShutdown(log, async () => {
      await app.close()
      await tcpApp?.close()
      await daemon.stop()
    })
    process.on('SIGHUP', () => void reload(log, flags.config, fromFlags, cfg, daemon).then((next) => (cfg = next)))
    // Under systemd (Type=notify) `systemctl start` returns only now, with the API answering.
    await notifyReady({ status: `name=${id.name} api=${cfg.apiSocket}` }).catch((err: unknown) => log.error({ err }, 'could not notify systemd'))
  })

type Flags = { config?: string; stateDir?: string; name?: string; broker?: string[]; port?: string; apiSocket?: string; apiListen?: string; logLevel?: string; keepalive?: string; tcp?: boolean; interfaceAllow?: string[]; interfaceDeny?: string[]; checkConfig?: boolean }

function flagLayer(flags: Flags): RawConfig {
  const out: RawConfig = {}
  if (flags.stateDir !== undefined) out.stateDir = flags.stateDir
  if (flags.name !== undefined) out.name = flags.name
  if (flags.broker !== undefined) out.brokers = flags.broker
  if (flags.port !== undefined) out.port = flags.port
  if (flags.apiSocket !== undefined) out.apiSocket = flags.apiSocket
  if (flags.apiListen !== undefined) out.apiListen = flags.apiListen
  if (flags.logLevel !== undefined) out.logLevel = flags.logLevel
  if (flags.keepalive !== undefined) out.keepaliveS = flags.keepalive
  if (flags.interfaceAllow !== undefined) out.interfacesAllow = flags.interfaceAllow
  if (flags.interfaceDeny !== undefined) out.interfacesDeny = flags.interfaceDeny
  // Commander sets tcp = true by default for a --no-tcp flag: only its use is a setting.
  if (flags.tcp === false) out.tcp = false
  return out
}

// SIGHUP: re-read file and environment under the same flags; apply what can change live, keep the
// old settings if the new ones are invalid. Returns the settings now in force.
async function reload(log: Logger, configPath: string | undefined, flags: RawConfig, current: DaemonConfig, daemon: Pick<Daemon, 'setBrokers' | 'setInterfaceRules'>): Promise<DaemonConfig> {
  let next: DaemonConfig
  try {
    next = await loadConfig(configPath, flags, process.env)
  } catch (e) {
    log.error({ err: (e as Error).message }, 'reload: configuration is invalid; keeping the running settings')
    return current
  }
  const changed = changedKeys(current, next)
  if (changed.includes('logLevel')) setLogLevel(log, next.logLevel)
  if (changed.includes('brokers')) daemon.setBrokers(next.brokers)
  if (changed.includes('interfacesAllow') || changed.includes('interfacesDeny')) daemon.setInterfaceRules(next.interfacesAllow, next.interfacesDeny)
  const live: (keyof DaemonConfig)[] = ['logLevel', 'brokers', 'interfacesAllow', 'interfacesDeny']
  const needRestart = changed.filter((k) => !live.includes(k)).map((k) => KEYS[k].toml)
  if (needRestart.length > 0) log.warn({ keys: needRestart }, `reload: ${needRestart.join(', ')} changed; restart p2pd to apply`)
  log.info({ changed: changed.map((k) => KEYS[k].toml), logLevel: next.logLevel }, 'reloaded configuration')
  // Keys not applied stay as they run, so a later reload still reports them.
  return { ...current, logLevel: next.logLevel, brokers: next.brokers, interfacesAllow: next.interfacesAllow, interfacesDeny: next.interfacesDeny }
}

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`p2pd: ${(e as Error).message}\n`)
  process.exit(1)
})
