// Config layering and validation: file < env < flags, errors name the key and where it came from,
// --check-config's output is itself a valid config file.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse } from 'smol-toml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, KEYS, changedKeys, formatConfig, loadConfig, readConfigFile } from '../../../daemon/config.js'

const P2PD = resolve(import.meta.dirname, '../../../dist/daemon/bin.js')
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2pc-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
const file = async (name: string, text: string): Promise<string> => {
  const p = join(dir, name)
  await writeFile(p, text)
  return p
}
const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((res) => execFile(process.execPath, [P2PD, ...args], { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) => res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })))

describe('loadConfig', () => {
  it('layers file < env < flags', async () => {
    const f = await file('a.toml', 'name = "filename"\nport = 1000\nlog_level = "warn"\nbrokers = ["b1:7000"]\n')
    const cfg = await loadConfig(f, { logLevel: 'debug' }, { P2PD_PORT: '2000', P2PD_LOG_LEVEL: 'error' })
    expect(cfg).toMatchObject({ name: 'filename', port: 2000, logLevel: 'debug', brokers: [{ host: 'b1', port: 7000 }], apiListen: null })
  })

  it('reads interface rules from the file, the environment (comma-separated) and repeated flags', async () => {
    const f = await file('i.toml', 'interfaces_deny = ["docker*", "172.17.0.0/16"]\n')
    expect(await loadConfig(f, {}, {})).toMatchObject({ interfacesAllow: [], interfacesDeny: ['docker*', '172.17.0.0/16'] })
    expect(await loadConfig(f, { interfacesAllow: ['eth0', 'fd00::/8'] }, { P2PD_INTERFACES_DENY: 'veth*, 10.9.0.0/16' }))
      .toMatchObject({ interfacesAllow: ['eth0', 'fd00::/8'], interfacesDeny: ['veth*', '10.9.0.0/16'] })
  })

  it('uses systemd directories by default', async () => {
    const cfg = await loadConfig(undefined, {}, { STATE_DIRECTORY: '/var/lib/p2pd', RUNTIME_DIRECTORY: '/run/p2pd' })
    expect(cfg).toMatchObject({ stateDir: '/var/lib/p2pd', apiSocket: '/run/p2pd/p2pd.sock', keepaliveS: 25 })
  })

  it.each([
    ['file', 'port = 70000\n', {}, {}, /^invalid port \(from .*b\.toml\): "70000" is not a whole number/],
    ['env', '', { P2PD_LOG_LEVEL: 'loud' }, {}, /^invalid log_level \(from P2PD_LOG_LEVEL\): "loud": use one of/],
    ['flag', '', {}, { brokers: ['a:b'] }, /^invalid brokers \(from --broker\): "a:b" is not HOST:PORT/],
    ['non-loopback API', 'api_listen = "0.0.0.0:7657"\n', {}, {}, /^invalid api_listen .*not a loopback address/],
    ['long socket path', `api_socket = "/${'x'.repeat(120)}"\n`, {}, {}, /^invalid api_socket .*107-byte limit/],
    ['wrong type', 'name = 3\n', {}, {}, /^invalid name .*expected a string/],
    ['bad CIDR', 'interfaces_deny = ["10.0.0.0/33"]\n', {}, {}, /^invalid interfaces_deny .*"10\.0\.0\.0\/33": prefix length must be a whole number from 0 to 32/],
    ['bad interface name', '', { P2PD_INTERFACES_ALLOW: 'eth0,wl an' }, {}, /^invalid interfaces_allow \(from P2PD_INTERFACES_ALLOW\): "wl an": not an interface name/],
  ])('names the bad key and its source: %s', async (_what, text, env, flags, msg) => {
    const f = await file('b.toml', text)
    const err = await loadConfig(f, flags, env).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(msg)
  })

  it('refuses unknown keys and bad TOML in the file', async () => {
    await expect(readConfigFile(await file('c.toml', 'prot = 1\n'))).rejects.toThrow(/invalid prot: unknown key .*known: name, state_dir/)
    await expect(readConfigFile(await file('d.toml', 'name = \n'))).rejects.toThrow(/not valid TOML/)
    await expect(readConfigFile(join(dir, 'missing.toml'))).rejects.toThrow(/cannot read .*ENOENT/)
  })
})

describe('formatConfig and changedKeys', () => {
  it('prints TOML that reads back to the same settings', async () => {
    const cfg = await loadConfig(undefined, { name: 'alice', brokers: ['[::1]:7000', 'b:7001'], apiListen: '127.0.0.1:7657', interfacesDeny: ['docker*', '10.0.0.0/8'] }, {})
    const text = formatConfig(cfg)
    const again = await loadConfig(await file('e.toml', text), {}, {})
    expect(again).toEqual(cfg)
    expect(Object.keys(parse(text)).sort()).toEqual(Object.values(KEYS).map((k) => k.toml).sort())
  })

  it('lists the keys that differ', async () => {
    const a = await loadConfig(undefined, { name: 'alice' }, {})
    expect(changedKeys(a, { ...a, logLevel: 'debug', brokers: [{ host: 'x', port: 1 }] })).toEqual(['brokers', 'logLevel'])
  })
})

describe('p2pd --check-config', () => {
  it('exits 0 and prints the resolved settings, binding nothing', async () => {
    const f = await file('ok.toml', 'name = "alice"\nbrokers = ["b.example:7000"]\n')
    const r = await run(['--config', f, '--check-config', '--api-socket', join(dir, 'never.sock')])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('# p2pd: configuration is valid')
    expect(parse(r.stdout)).toMatchObject({ name: 'alice', brokers: ['b.example:7000'], api_socket: join(dir, 'never.sock') })
    await expect(readConfigFile(join(dir, 'never.sock'))).rejects.toThrow(/ENOENT/)
  })

  it('exits 2 naming the bad key', async () => {
    const r = await run(['--check-config'], { P2PD_KEEPALIVE_S: '0' })
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe('p2pd: invalid keepalive_s (from P2PD_KEEPALIVE_S): "0" is not a whole number from 1 to 3600')
  })

  it('the shipped systemd/p2pd.toml is valid and lists every key', async () => {
    const shipped = resolve(import.meta.dirname, '../../../systemd/p2pd.toml')
    expect((await run(['--config', shipped, '--check-config'])).code).toBe(0)
    const text = await readFile(shipped, 'utf8')
    for (const { toml } of Object.values(KEYS)) expect(text, toml).toMatch(new RegExp(`^#? ?${toml} = `, 'm'))
  })
})
