// p2p-broker settings from flags and P2P_BROKER_* environment variables (flags win), validated
// up front so that a bad value is one clear line naming the flag, not a failure later.
import { isIP } from 'node:net'
import { LOG_LEVELS } from '../common/logger.js'
import { parseHostPort } from '../common/lifecycle.js'
import type { HostPort } from './broker.js'
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from './relay-table.js'

/** Validated broker settings. */
export interface BrokerConfig {
  listen: HostPort[]
  http: HostPort | null
  stateDir: string | null
  leaseS: number
  relay: boolean
  /** Relay quotas (used when relay is on). */
  relayLimits: RelayLimits
  /** Relay to loopback and private addresses too (LAN brokers, loopback tests). */
  relayAllowPrivate: boolean
  rateLimit: number
  logLevel: string
}

/** Raw option values as commander parsed them (all strings; undefined when not given). */
export interface CliOptions {
  listen?: string[]
  http?: string
  stateDir?: string
  lease?: string
  relay?: boolean
  relayRate?: string
  relayLifetime?: string
  relayMax?: string
  relayMaxPerKey?: string
  relayAllowPrivate?: boolean
  rateLimit?: string
  logLevel?: string
}

/** A bad setting: `flag` names where it came from (the flag, or the flag and its env var). */
export class ConfigError extends Error {
  constructor(readonly flag: string, why: string) {
    super(`${flag}: ${why}`)
    this.name = 'ConfigError'
  }
}

/** Environment variable of each flag. */
export const ENV = {
  listen: 'P2P_BROKER_LISTEN',
  http: 'P2P_BROKER_HTTP',
  stateDir: 'P2P_BROKER_STATE_DIR',
  lease: 'P2P_BROKER_LEASE',
  relay: 'P2P_BROKER_RELAY',
  relayRate: 'P2P_BROKER_RELAY_RATE',
  relayLifetime: 'P2P_BROKER_RELAY_LIFETIME',
  relayMax: 'P2P_BROKER_RELAY_MAX',
  relayMaxPerKey: 'P2P_BROKER_RELAY_MAX_PER_KEY',
  relayAllowPrivate: 'P2P_BROKER_RELAY_ALLOW_PRIVATE',
  rateLimit: 'P2P_BROKER_RATE_LIMIT',
  logLevel: 'P2P_BROKER_LOG_LEVEL',
} as const

/** Merge flags over environment over defaults and validate. Throws ConfigError. */
export function resolveConfig(cli: CliOptions, env: NodeJS.ProcessEnv): BrokerConfig {
  const pick = <K extends keyof typeof ENV>(key: K, flag: string): { value: string | undefined; where: string } => {
    const fromCli = cli[key]
    if (fromCli !== undefined && typeof fromCli === 'string') return { value: fromCli, where: flag }
    const fromEnv = env[ENV[key]]
    return fromEnv !== undefined && fromEnv !== '' ? { value: fromEnv, where: `${flag} (from ${ENV[key]})` } : { value: undefined, where: flag }
  }

  let listen: HostPort[]
  if (cli.listen !== undefined && cli.listen.length > 0) {
    listen = cli.listen.map((s) => address(s, '--listen'))
  } else {
    const fromEnv = env[ENV.listen]
    listen = fromEnv !== undefined && fromEnv.trim() !== ''
      ? fromEnv.split(',').map((s) => address(s, `--listen (from ${ENV.listen})`))
      : [{ host: '0.0.0.0', port: 7000 }]
  }

  const httpOpt = pick('http', '--http')
  const stateOpt = pick('stateDir', '--state-dir')
  if (stateOpt.value !== undefined && stateOpt.value.trim() === '') throw new ConfigError(stateOpt.where, 'is empty')

  const leaseOpt = pick('lease', '--lease')
  const leaseS = leaseOpt.value === undefined ? 90 : wholeNumber(leaseOpt.value, leaseOpt.where, 1, 86_400, 'seconds')

  const rateOpt = pick('rateLimit', '--rate-limit')
  const rateLimit = rateOpt.value === undefined ? 50 : wholeNumber(rateOpt.value, rateOpt.where, 1, 1_000_000, 'datagrams per second')

  const levelOpt = pick('logLevel', '--log-level')
  const logLevel = levelOpt.value ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(levelOpt.where, `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`)

  const flag = (key: 'relay' | 'relayAllowPrivate', name: string, dflt: boolean): boolean => {
    const fromCli = cli[key]
    if (fromCli !== undefined) return fromCli
    const fromEnv = env[ENV[key]]
    return fromEnv !== undefined && fromEnv !== '' ? boolean(fromEnv, `${name} (from ${ENV[key]})`) : dflt
  }
  const relay = flag('relay', '--relay', true)
  const relayAllowPrivate = flag('relayAllowPrivate', '--relay-allow-private', false)
  const d = DEFAULT_RELAY_LIMITS
  const rateOptR = pick('relayRate', '--relay-rate')
  const lifeOpt = pick('relayLifetime', '--relay-lifetime')
  const maxOpt = pick('relayMax', '--relay-max')
  const perKeyOpt = pick('relayMaxPerKey', '--relay-max-per-key')
  const relayLimits: RelayLimits = {
    rateBytesPerS: rateOptR.value === undefined ? d.rateBytesPerS : byteRate(rateOptR.value, rateOptR.where),
    lifetimeS: lifeOpt.value === undefined ? d.lifetimeS : wholeNumber(lifeOpt.value, lifeOpt.where, 10, 7 * 86_400, 'seconds'),
    idleS: d.idleS,
    maxTotal: maxOpt.value === undefined ? d.maxTotal : wholeNumber(maxOpt.value, maxOpt.where, 1, 100_000, 'allocations'),
    maxPerKey: perKeyOpt.value === undefined ? d.maxPerKey : wholeNumber(perKeyOpt.value, perKeyOpt.where, 1, 10_000, 'allocations'),
  }

  return {
    listen,
    http: httpOpt.value === undefined ? null : address(httpOpt.value, httpOpt.where),
    stateDir: stateOpt.value ?? null,
    leaseS,
    relay,
    relayLimits,
    relayAllowPrivate,
    rateLimit,
    logLevel,
  }
}

function address(s: string, where: string): HostPort {
  let hp: HostPort
  try {
    hp = parseHostPort(s, where)
  } catch (e) {
    throw new ConfigError(where, (e as Error).message.replace(`${where}: `, ''))
  }
  if (isIP(hp.host) === 0) throw new ConfigError(where, `"${hp.host}" is not an IP address (e.g. 0.0.0.0:7000, 127.0.0.1:7000 or [::]:7000)`)
  return hp
}

function wholeNumber(s: string, where: string, min: number, max: number, unit: string): number {
  const n = /^\d+$/.test(s.trim()) ? Number(s.trim()) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(where, `"${s}" is not a whole number of ${unit} from ${min} to ${max}`)
  return n
}

// Bytes per second: a whole number with an optional k, M or G (powers of 1024); 0 = no cap.
function byteRate(s: string, where: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(s.trim())
  const n = m ? Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()) : NaN
  if (!Number.isSafeInteger(n) || n > 1024 ** 4) throw new ConfigError(where, `"${s}" is not a byte rate (bytes per second, e.g. 8M, 500k or 0 for no cap)`)
  return n
}

function boolean(s: string, where: string): boolean {
  const v = s.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigError(where, `"${s}" is not a boolean (use true or false)`)
}
