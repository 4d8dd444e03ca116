// p2pd settings from three layers: config file < environment (P2PD_*) < flags. Every key is
// validated, and a bad one stops the start with the key's name and the reason.
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml'
import { LOG_LEVELS } from '../common/logger.js'
import { formatHostPort, parseHostPort } from '../common/lifecycle.js'
import { isLoopbackHost } from './api/listen.js'
import { parseInterfaceRule } from './interface-filter.js'

/** Resolved settings. */
export interface DaemonConfig {
  name: string
  stateDir: string
  brokers: { host: string; port: number }[]
  port: number
  apiSocket: string
  apiListen: { host: string; port: number } | null
  logLevel: string
  keepaliveS: number
  /** Interface names/globs or CIDRs to use (empty = all). */
  interfacesAllow: string[]
  /** Interface names/globs or CIDRs never to use. */
  interfacesDeny: string[]
  /** Try kernel TCP paths next to the UDP one. */
  tcp: boolean
}

/** One layer of raw settings (strings from env/flags, typed values from TOML). */
export type RawConfig = Partial<Record<keyof DaemonConfig, unknown>>

/** A setting that cannot be used, named by key. */
export class ConfigError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`invalid ${key}: ${reason}`)
    this.name = 'ConfigError'
  }
}

/** Keys as they appear in the TOML file, and the env var for each. */
export const KEYS: Record<keyof DaemonConfig, { toml: string; env: string; flag: string; doc: string }> = {
  name: { toml: 'name', env: 'P2PD_NAME', flag: '--name', doc: 'name to register with the brokers (default: hostname)' },
  stateDir: { toml: 'state_dir', env: 'P2PD_STATE_DIR', flag: '--state-dir', doc: 'identity, pinned peers, forwards and exposes (default: $STATE_DIRECTORY or /var/lib/p2pd)' },
  brokers: { toml: 'brokers', env: 'P2PD_BROKER', flag: '--broker', doc: 'rendezvous brokers, HOST:PORT (env: comma-separated)' },
  port: { toml: 'port', env: 'P2PD_PORT', flag: '--port', doc: 'UDP port of the endpoint (0 = any; default 0)' },
  apiSocket: { toml: 'api_socket', env: 'P2PD_API_SOCKET', flag: '--api-socket', doc: 'control API Unix socket (default: $RUNTIME_DIRECTORY/p2pd.sock or /run/p2pd/p2pd.sock)' },
  apiListen: { toml: 'api_listen', env: 'P2PD_API_LISTEN', flag: '--api-listen', doc: 'optional loopback TCP listener for the API, HOST:PORT' },
  logLevel: { toml: 'log_level', env: 'P2PD_LOG_LEVEL', flag: '--log-level', doc: `log level: ${LOG_LEVELS.join(', ')} (default info)` },
  keepaliveS: { toml: 'keepalive_s', env: 'P2PD_KEEPALIVE_S', flag: '--keepalive', doc: 'broker refresh and keepalive interval, seconds (default 25)' },
  interfacesAllow: { toml: 'interfaces_allow', env: 'P2PD_INTERFACES_ALLOW', flag: '--interface-allow', doc: 'use only these interfaces: names ("eth0", "wl*") or CIDRs ("192.168.1.0/24"); default all (env: comma-separated)' },
  interfacesDeny: { toml: 'interfaces_deny', env: 'P2PD_INTERFACES_DENY', flag: '--interface-deny', doc: 'never use these interfaces: names ("docker*", "veth*") or CIDRs ("172.17.0.0/16") (env: comma-separated)' },
  tcp: { toml: 'tcp', env: 'P2PD_TCP', flag: '--no-tcp', doc: 'try kernel TCP paths (listener on the UDP port number, simultaneous open) next to UDP (default true)' },
}

const LIST_KEYS: ReadonlySet<keyof DaemonConfig> = new Set(['brokers', 'interfacesAllow', 'interfacesDeny'])

/** Read a TOML config file into a raw layer. */
export async function readConfigFile(path: string): Promise<RawConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw new ConfigError('--config', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  let doc: Record<string, unknown>
  try {
    doc = parseToml(text) as Record<string, unknown>
  } catch (e) {
    throw new ConfigError('--config', `${path} is not valid TOML: ${(e as Error).message.split('\n')[0]}`)
  }
  const out: RawConfig = {}
  const byToml = new Map(Object.entries(KEYS).map(([k, v]) => [v.toml, k as keyof DaemonConfig]))
  for (const [k, v] of Object.entries(doc)) {
    const key = byToml.get(k)
    if (!key) throw new ConfigError(k, `unknown key in ${path} (known: ${[...byToml.keys()].join(', ')})`)
    out[key] = v
  }
  return out
}

/** The environment layer. */
export function envLayer(env: NodeJS.ProcessEnv): RawConfig {
  const out: RawConfig = {}
  for (const [key, { env: name }] of Object.entries(KEYS)) {
    const v = env[name]
    if (v === undefined || v === '') continue
    out[key as keyof DaemonConfig] = LIST_KEYS.has(key as keyof DaemonConfig) ? v.split(',').map((s) => s.trim()).filter(Boolean) : v
  }
  return out
}

/** Where a value came from, per key (a file path, an env var, a flag), for error messages. */
export type LayerSource = (key: keyof DaemonConfig) => string

/** Merge layers (later wins) and validate into a DaemonConfig; errors name the key and its source. */
export function resolveConfig(layers: RawConfig[], env: NodeJS.ProcessEnv, sources: LayerSource[] = []): DaemonConfig {
  const m: RawConfig = Object.assign({}, ...layers)
  const k = (key: keyof DaemonConfig): string => {
    let i = layers.length - 1
    while (i >= 0 && layers[i]![key] === undefined) i--
    const src = sources[i]?.(key)
    return src ? `${KEYS[key].toml} (from ${src})` : KEYS[key].toml
  }
  const runtimeDir = env.RUNTIME_DIRECTORY?.split(':')[0]
  const stateDir = env.STATE_DIRECTORY?.split(':')[0]
  return {
    name: str(m.name, k('name'), defaultName(), (s) => (/^[a-z0-9][a-z0-9-]{0,31}$/.test(s) ? null : 'use 1-32 lowercase letters, digits or "-", starting with a letter or digit')),
    stateDir: str(m.stateDir, k('stateDir'), stateDir ?? '/var/lib/p2pd', (s) => (s.length > 0 ? null : 'must not be empty')),
    brokers: list(m.brokers, k('brokers')).map((b) => hostPort(b, k('brokers'), 7000)),
    port: int(m.port, k('port'), 0, 0, 65535),
    apiSocket: str(m.apiSocket, k('apiSocket'), runtimeDir ? `${runtimeDir}/p2pd.sock` : '/run/p2pd/p2pd.sock', (s) => (Buffer.byteLength(s) > 107 ? `${Buffer.byteLength(s)} bytes is over the 107-byte limit of Unix socket paths; choose a shorter path` : null)),
    apiListen: m.apiListen === undefined || m.apiListen === '' ? null : loopback(hostPort(m.apiListen, k('apiListen')), k('apiListen')),
    logLevel: str(m.logLevel, k('logLevel'), 'info', (s) => ((LOG_LEVELS as readonly string[]).includes(s) ? null : `use one of ${LOG_LEVELS.join(', ')}`)),
    keepaliveS: int(m.keepaliveS, k('keepaliveS'), 25, 1, 3600),
    interfacesAllow: rules(m.interfacesAllow, k('interfacesAllow')),
    interfacesDeny: rules(m.interfacesDeny, k('interfacesDeny')),
    tcp: bool(m.tcp, k('tcp'), true),
  }
}

/** Read the file named by `configPath` (if any) and resolve it under env and flags. Throws ConfigError. */
export async function loadConfig(configPath: string | undefined, flags: RawConfig, env: NodeJS.ProcessEnv): Promise<DaemonConfig> {
  const file = configPath ? await readConfigFile(configPath) : {}
  return resolveConfig([file, envLayer(env), flags], env, [() => configPath ?? 'file', (key) => KEYS[key].env, (key) => KEYS[key].flag])
}

/** The resolved config as TOML (what --check-config prints); a disabled api_listen is a comment. */
export function formatConfig(cfg: DaemonConfig): string {
  const doc: Record<string, unknown> = {}
  for (const [key, { toml }] of Object.entries(KEYS)) {
    const v = cfg[key as keyof DaemonConfig]
    if (v === null) continue
    doc[toml] = key === 'brokers' ? cfg.brokers.map((b) => formatHostPort(b.host, b.port)) : key === 'apiListen' ? formatHostPort(cfg.apiListen!.host, cfg.apiListen!.port) : v
  }
  return stringifyToml(doc) + (cfg.apiListen === null ? '\n# api_listen: off\n' : '\n')
}

/** Names of the settings that differ between two configs. */
export function changedKeys(a: DaemonConfig, b: DaemonConfig): (keyof DaemonConfig)[] {
  return (Object.keys(KEYS) as (keyof DaemonConfig)[]).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
}

function loopback(hp: { host: string; port: number }, key: string): { host: string; port: number } {
  if (!isLoopbackHost(hp.host)) throw new ConfigError(key, `"${hp.host}" is not a loopback address: the API has no TLS, so it listens on 127.0.0.1, ::1 or localhost only`)
  return hp
}

function defaultName(): string {
  const n = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 32)
  return n || 'p2pd'
}

function str(v: unknown, key: string, dflt: string, check: (s: string) => string | null): string {
  if (v === undefined) return dflt
  if (typeof v !== 'string') throw new ConfigError(key, `expected a string, got ${typeof v}`)
  const why = check(v)
  if (why) throw new ConfigError(key, `"${v}": ${why}`)
  return v
}

function int(v: unknown, key: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(key, `"${String(v)}" is not a whole number from ${min} to ${max}`)
  return n
}

function bool(v: unknown, key: string, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (typeof v === 'boolean') return v
  const s = typeof v === 'string' ? v.trim().toLowerCase() : ''
  if (['1', 'true', 'yes', 'on'].includes(s)) return true
  if (['0', 'false', 'no', 'off'].includes(s)) return false
  throw new ConfigError(key, `"${String(v)}" is not true or false`)
}

function list(v: unknown, key: string, what = 'HOST:PORT strings'): string[] {
  if (v === undefined) return []
  const arr = Array.isArray(v) ? v : [v]
  for (const x of arr) if (typeof x !== 'string') throw new ConfigError(key, `expected ${what}`)
  return arr as string[]
}

function rules(v: unknown, key: string): string[] {
  const out = list(v, key, 'interface names or CIDRs (strings)').map((r) => r.trim()).filter(Boolean)
  for (const r of out) {
    try {
      parseInterfaceRule(r)
    } catch (e) {
      throw new ConfigError(key, (e as Error).message)
    }
  }
  return out
}

function hostPort(v: unknown, key: string, dfltPort?: number): { host: string; port: number } {
  if (typeof v !== 'string') throw new ConfigError(key, 'expected HOST:PORT')
  try {
    const hp = parseHostPort(v, key, dfltPort)
    if (hp.port === 0) throw new Error(`${key}: port 0 is not allowed here`)
    return hp
  } catch (e) {
    throw new ConfigError(key, (e as Error).message.replace(`${key}: `, ''))
  }
}
