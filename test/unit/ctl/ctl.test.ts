// Runs the built p2pctl (dist/ctl/bin.js; `npm test` builds first) against the real API app on a
// real Unix socket, backed by a fake core.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { AppError } from '../../../common/errors.js'
import { buildApp } from '../../../daemon/api/app.js'
import { listenTcp, listenUnix } from '../../../daemon/api/listen.js'
import { waitFor } from '../../helpers/wait-for.js'
import { BOB_KEY, FakeDaemonApi } from '../api/fake-daemon-api.js'

const BIN = resolve('dist/ctl/bin.js')
const VERBS = ['status', 'id', 'interfaces', 'peers', 'peer', 'connect', 'ping', 'forward', 'forwards', 'unforward', 'expose', 'unexpose', 'exposes', 'nc', 'watch', 'netcheck']

let dir: string
let sock: string
let app: FastifyInstance
let api: FakeDaemonApi

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Start p2pctl; `done` settles when it exits. */
function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: { stdout: string; stderr: string }; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, P2PD_API: sock, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  child.stdout?.setEncoding('utf8').on('data', (c: string) => { out.stdout += c })
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { out.stderr += c })
  const done = new Promise<Run>((res, rej) => {
    child.once('error', rej)
    child.once('close', (code, signal) => res({ code, signal, ...out }))
  })
  return { child, out, done }
}

/** Run p2pctl to completion (async: the server under test lives in this process). */
function ctl(...args: string[]): Promise<Run> {
  return start(args).done
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (npm run build, or npx tsc -p tsconfig.json)`)
  dir = await mkdtemp(join(tmpdir(), 'p2pctl-'))
  sock = join(dir, 'p2pd.sock')
})
beforeEach(async () => {
  await app?.close()
  api = new FakeDaemonApi()
  app = await buildApp({ api, version: 'test' })
  await listenUnix(app, sock)
})
afterAll(async () => {
  await app?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('read verbs', () => {
  it('--json peers prints the API shape', async () => {
    const r = await ctl('--json', 'peers')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const peers = JSON.parse(r.stdout)
    expect(peers).toEqual(api.peerList)
    expect(Object.keys(peers[0])).toEqual(expect.arrayContaining(['name', 'key', 'state', 'path']))
    expect(Object.keys(peers[0].path).sort()).toEqual(['kind', 'local', 'proto', 'remote', 'rttMs'])
  })

  it('--json also works after the verb; status and id shapes', async () => {
    const s = await ctl('status', '--json')
    expect(s.code).toBe(0)
    expect(Object.keys(JSON.parse(s.stdout))).toEqual(expect.arrayContaining(['name', 'key', 'version', 'uptimeS', 'brokers', 'nat', 'interfaces', 'peers', 'forwards']))
    const id = await ctl('id', '--json')
    expect(JSON.parse(id.stdout)).toEqual({ name: 'alice', key: 'a'.repeat(64) })
    const f = await ctl('forwards', '--json')
    expect(JSON.parse(f.stdout)).toEqual(api.forwardList)
  })

  it('netcheck says what kind of NAT this is, per broker and interface; --json is the API shape', async () => {
    const r = await ctl('netcheck')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^nat\s+endpoint-dependent \(hard NAT/m)
    expect(r.stdout).toMatch(/^allocation\s+sequential$/m)
    expect(r.stdout).toMatch(/^hairpin\s+no$/m)
    expect(r.stdout).toMatch(/^ipv6\s+unknown \(no global IPv6/m)
    expect(r.stdout).toMatch(/^broker2\.example:7000\s+no\s+-/m)
    expect(r.stdout).toMatch(/^eth0\s+192\.168\.1\.10\s+yes\s+endpoint-dependent\s+sequential$/m)
    const j = await ctl('netcheck', '--json')
    expect(JSON.parse(j.stdout)).toEqual(await api.netcheck())
  })

  it('human output is an aligned table', async () => {
    const r = await ctl('peers')
    expect(r.code).toBe(0)
    const [header, row] = r.stdout.split('\n')
    expect(header).toMatch(/^NAME\s+KEY\s+STATE\s+PATH\s+RTT$/)
    expect(row).toContain('connected')
    expect(row!.indexOf('connected')).toBe(header!.indexOf('STATE'))
  })
})

describe('write verbs', () => {
  it('forward 8080 --peer bob sends only what was said', async () => {
    const r = await ctl('forward', '8080', '--peer', 'bob')
    expect(r.code).toBe(0)
    expect(api.calls.at(-1)).toEqual({ method: 'addForward', args: [{ port: 8080, peer: 'bob', proto: 'tcp' }] })
    expect(r.stdout).toContain('127.0.0.1:8080')
  })

  it('forward with bind, --to and --udp', async () => {
    const r = await ctl('forward', '[::1]:5353', '--peer', BOB_KEY, '--to', '10.0.0.5:53', '--udp')
    expect(r.code).toBe(0)
    expect(api.calls.at(-1)?.args[0]).toEqual({ bindHost: '::1', port: 5353, peer: BOB_KEY, toHost: '10.0.0.5', toPort: 53, proto: 'udp' })
  })

  it('expose --any and unexpose by target resolve to the right rule', async () => {
    expect((await ctl('expose', '53', '--any', '--udp')).code).toBe(0)
    expect(api.calls.at(-1)?.args[0]).toEqual({ port: 53, peer: '*', proto: 'udp' })
    const r = await ctl('unexpose', '22', '--peer', 'bob')
    expect(r.code).toBe(0)
    expect(api.calls.at(-1)).toEqual({ method: 'removeExpose', args: ['e1'] })
    expect(api.exposeList.map((e) => e.target)).toEqual(['localhost:53'])
  })

  it('connect prints the punch progress for that peer, then the path', async () => {
    const r = await ctl('connect', 'bob')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('punch: probing 3 candidates\npunch: connected direct udp\n')
    expect(r.stdout).toBe('connected to bob: direct udp 192.168.1.2:4000 -> 203.0.113.7:5000, rtt 1.50 ms\n')
  })

  it('ping and peers show the active path and how many standbys answer', async () => {
    api.peerList[0]!.path = { ...api.peerList[0]!.path!, standbys: ['10.0.0.9:4000', '198.51.100.9:4001'], standbyPaths: [{ remote: '10.0.0.9:4000', local: null, rttMs: 0.3, alive: true }, { remote: '198.51.100.9:4001', local: '10.1.0.2', rttMs: null, alive: false }] }
    const r = await ctl('ping', 'bob')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('bob: rtt 2.25 ms via direct udp 192.168.1.2:4000 -> 203.0.113.7:5000 (+2 standby, 1 alive)\n')
    expect((await ctl('peers')).stdout).toContain('(+2 standby, 1 alive)')
  })

  it('ping --count 2 --json prints one object per ping', async () => {
    const r = await ctl('ping', 'bob', '--count', '2', '--interval', '0', '--json')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines).toEqual([{ rttMs: 2.25, path: api.peerList[0]!.path }, { rttMs: 2.25, path: api.peerList[0]!.path }])
  })
})

describe('failures', () => {
  it('an API error is one line plus its hint, exit 1', async () => {
    const r = await ctl('peer', 'remove', 'nobody')
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('p2pctl: unknown peer nobody\nhint: see p2pctl peers\n')
  })

  it('unexpose PORT without --peer explains how to remove by target', async () => {
    const r = await ctl('unexpose', '8080')
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('p2pctl: no expose rule 8080\nhint: to remove by target, add --peer PEER or --any: p2pctl unexpose 8080 --peer PEER\n')
  })

  it('an API error without a hint is exactly one line', async () => {
    api.fail.set('addForward', new AppError('PORT_IN_USE', 'port 8080 is already in use'))
    const r = await ctl('forward', '8080', '--peer', 'bob')
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('p2pctl: port 8080 is already in use\n')
  })

  it('daemon not running: one line naming the socket, exit 3', async () => {
    const missing = join(dir, 'nothing-here.sock')
    const r = await ctl('--api', missing, 'peers')
    expect(r.code).toBe(3)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(`p2pctl: p2pd is not running (nothing listening on ${missing}); start it with 'systemctl start p2pd'`)
  })

  it('daemon not running on a URL: exit 3', async () => {
    const r = await ctl('--api', 'http://127.0.0.1:1', 'status')
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/^p2pctl: p2pd is not running \(nothing listening on http:\/\/127\.0\.0\.1:1\)/)
  })

  it.each([
    [['forward', '70000', '--peer', 'bob'], /p2pctl: invalid \[BIND:\]PORT "70000"/],
    [['forward', '8080'], /required option '--peer/],
    [['forward', '::1:8080', '--peer', 'bob'], /brackets/],
    [['forward', '8080', '--peer', 'bob', '--to', 'host:'], /--to/],
    [['expose', '22'], /--peer PEER, or --any/],
    [['expose', '22', '--peer', 'bob', '--any'], /not both/],
    [['ping', 'bob', '--count', '0'], /--count/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('usage error %j exits 2 without calling the API', async (args, message) => {
    const r = await ctl(...args)
    expect(r.code).toBe(2)
    expect(r.stderr.split('\n')[0]).toMatch(/^p2pctl: /)
    expect(r.stderr).toMatch(message)
    expect(api.calls).toEqual([])
  })
})

describe('http:// API with a token', () => {
  it('sends P2PD_API_TOKEN as a bearer token; without it the daemon refuses', async () => {
    const token = 'k'.repeat(32)
    const tcp = await buildApp({ api, version: 'test', tcpGuard: { token } })
    try {
      const url = await listenTcp(tcp, '127.0.0.1', 0)
      const ok = await start(['--api', url, '--json', 'id'], { P2PD_API_TOKEN: token }).done
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout)).toEqual({ name: 'alice', key: 'a'.repeat(64) })
      const refused = await start(['--api', url, 'id'], { P2PD_API_TOKEN: '' }).done
      expect(refused.code).toBe(1)
      expect(refused.stderr.split('\n')[0]).toBe('p2pctl: missing or wrong API token')
    } finally {
      await tcp.close()
    }
  })
})

describe('help', () => {
  it('--help lists every command with its description and examples', async () => {
    const r = await ctl('--help')
    expect(r.code).toBe(0)
    for (const verb of VERBS) expect(r.stdout).toMatch(new RegExp(`^  ${verb}\\b.*\\S`, 'm'))
    expect(r.stdout).toContain('Examples:')
  })

  it.each(VERBS)('%s --help has an example', async (verb) => {
    const r = await ctl(verb, '--help')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`Examples:\\n  \\$ p2pctl ${verb}`))
  })
})

describe('watch', () => {
  it.each([
    ['human', [] as string[], /^\d\d:\d\d:\d\d punch bob: probing 3 candidates\n$/],
    ['--json', ['--json'], /^\{"type":"punch","peer":"bob","stage":"probing","detail":"3 candidates"\}\n$/],
  ])('prints events as they come (%s) and exits 0 on SIGINT', async (_mode, flags, expected) => {
    const w = start(['watch', ...flags])
    await waitFor(() => api.listeners.size === 1, { what: 'watch to subscribe' })
    api.emit({ type: 'punch', peer: 'bob', stage: 'probing', detail: '3 candidates' })
    await waitFor(() => w.out.stdout.endsWith('\n'), { what: 'a line from watch' })
    expect(w.out.stdout).toMatch(expected)
    w.child.kill('SIGINT')
    const r = await w.done
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    await waitFor(() => api.listeners.size === 0, { what: 'unsubscribe' })
  })

  it('exits 1 with one line when the daemon goes away', async () => {
    const w = start(['watch'])
    await waitFor(() => api.listeners.size === 1, { what: 'watch to subscribe' })
    await app.close()
    const r = await w.done
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^p2pctl: p2pd closed the event stream/)
  })
})
