// The shipped units under a real systemd: boot systemd as PID 1 of a private box (box.ts), install
// with systemd/install.sh, start the broker and p2pd (Type=notify: start returns once the API
// answers), set up a forward to a second daemon, restart, reload, stop. The host's /tmp,
// /etc/passwd and services are never touched: everything the box writes lives in its tmpfs.
import { createHash } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait-for.js'
import { Box, boxUnavailableReason } from './box.js'

const PROJECT = resolve(import.meta.dirname, '../..')
const reason = (await boxUnavailableReason()) ?? ((await readFile(resolve(PROJECT, 'dist/daemon/bin.js')).then(() => null, () => 'dist/ is not built (npm run build)')))
if (reason && process.env.P2PD_SYSTEMD_REQUIRED === '1') throw new Error(`P2PD_SYSTEMD_REQUIRED=1 but the systemd test cannot run: ${reason}`)
if (reason) console.warn(`skipping the systemd boot test: ${reason}`)

const ALICE = '/run/p2pd/p2pd.sock'
const BOB = '/run/p2pd-bob/p2pd.sock'
const ECHO_PORT = 9000
const FWD_PORT = 18000
// Sends one line through the forward and expects it back from the echo service behind bob.
const ECHO_CLIENT = `const s=require('net').connect(${FWD_PORT},'127.0.0.1');const m='hello-'+process.pid;let g='';`
  + `s.on('data',d=>{g+=d;if(g===m){console.log('ok');process.exit(0)}});s.on('error',e=>{console.error(e.message);process.exit(1)});`
  + `s.write(m);setTimeout(()=>{console.error('no echo, got '+JSON.stringify(g));process.exit(1)},4000)`

const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex')

describe.skipIf(reason !== null)('systemd units in a booted box', () => {
  let box: Box
  const sentinel = `/tmp/p2pd-systemd-sentinel-${process.pid}`
  let passwdBefore = ''

  beforeAll(async () => {
    await writeFile(sentinel, 'the box must not clean the host /tmp\n')
    passwdBefore = await sha('/etc/passwd')
    box = await Box.boot(PROJECT)
  }, 60_000)

  afterAll(async () => {
    await box?.kill()
    // Nothing leaked to the host.
    expect(await readFile(sentinel, 'utf8')).toContain('must not')
    await rm(sentinel, { force: true })
    expect(await sha('/etc/passwd')).toBe(passwdBefore)
  }, 30_000)

  const ctl = (sock: string, args: string[]): Promise<string> => box.ok(['/usr/local/bin/p2pctl', '--api', sock, ...args])
  const echoThroughForward = (): Promise<string> => waitFor(async () => (await box.run(['node', '-e', ECHO_CLIENT])).stdout.includes('ok') && 'ok', { timeoutMs: 20_000, intervalMs: 250, what: 'an echo through the forward' })

  it('installs with systemd/install.sh; the units verify clean', async () => {
    await box.ok(['sh', '/srv/p2pd/systemd/install.sh'], { timeoutMs: 60_000 })
    expect(await box.ok(['getent', 'passwd', 'p2pd'])).toMatch(/^p2pd:/)
    const v = await box.run(['systemd-analyze', 'verify', '/etc/systemd/system/p2pd.service', '/etc/systemd/system/p2p-broker.service'])
    expect(v, v.stderr).toMatchObject({ code: 0, stderr: '' })
    const sec = await box.ok(['systemd-analyze', 'security', '--no-pager', 'p2pd.service', 'p2p-broker.service'])
    for (const m of sec.matchAll(/Overall exposure level for (\S+): ([\d.]+)/g)) expect(Number(m[2]), `${m[1]} exposure`).toBeLessThanOrEqual(2.0)
  }, 60_000)

  it('systemctl start returns once the API answers (Type=notify)', async () => {
    await box.ok(['sh', '-c', `printf 'name = "alice"\\nbrokers = ["127.0.0.1:7000"]\\napi_listen = "127.0.0.1:7657"\\n' > /etc/p2pd/p2pd.toml`])
    await box.ok(['systemctl', 'start', 'p2p-broker'])
    await box.ok(['systemctl', 'start', 'p2pd'])
    // No polling: readiness means the API is up now.
    const status = JSON.parse(await ctl(ALICE, ['status', '--json'])) as { name: string }
    expect(status.name).toBe('alice')
    expect((await box.ok(['stat', '-c', '%a %U:%G', ALICE, '/run/p2pd'])).trim().split('\n')).toEqual(['660 p2pd:p2pd', '750 p2pd:p2pd'])
    const pid = (await box.ok(['systemctl', 'show', '-p', 'MainPID', '--value', 'p2pd'])).trim()
    expect((await box.ok(['ps', '-o', 'user=', '-p', pid])).trim()).toBe('p2pd')
    // The bin's launcher lines (node's memory settings) are in force under the unit too.
    expect((await box.ok(['cat', `/proc/${pid}/cmdline`])).split('\0')).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--v8-pool-size=1']))
    expect((await box.ok(['cat', `/proc/${pid}/environ`])).split('\0')).toContain('MALLOC_ARENA_MAX=2')
  }, 30_000)

  it('a forward to a second daemon survives systemctl restart p2pd', async () => {
    await box.ok(['systemd-run', '--unit=box-echo', 'node', '-e', `require('net').createServer((s)=>s.pipe(s)).listen(${ECHO_PORT},'127.0.0.1')`])
    await box.ok(['systemd-run', '--unit=p2pd-bob', '-p', 'Type=notify', '-p', 'NotifyAccess=all', '-p', 'StateDirectory=p2pd-bob', '-p', 'RuntimeDirectory=p2pd-bob',
      '/usr/local/bin/p2pd', '--name', 'bob', '--broker', '127.0.0.1:7000', '--state-dir', '/var/lib/p2pd-bob', '--api-socket', BOB])
    await ctl(BOB, ['expose', String(ECHO_PORT), '--peer', 'alice'])
    await ctl(ALICE, ['forward', String(FWD_PORT), '--peer', 'bob', '--to', String(ECHO_PORT)])
    expect(await echoThroughForward()).toBe('ok')

    const before = (await box.ok(['systemctl', 'show', '-p', 'MainPID', '--value', 'p2pd'])).trim()
    await box.ok(['systemctl', 'restart', 'p2pd'])
    expect((await box.ok(['systemctl', 'show', '-p', 'MainPID', '--value', 'p2pd'])).trim()).not.toBe(before)
    const forwards = JSON.parse(await ctl(ALICE, ['forwards', '--json'])) as { bind: string; peer: string }[]
    expect(forwards).toMatchObject([{ bind: `127.0.0.1:${FWD_PORT}`, peer: 'bob' }])
    expect(await echoThroughForward()).toBe('ok')
  }, 60_000)

  it('systemctl reload (SIGHUP) applies a new log level', async () => {
    await box.ok(['sh', '-c', `echo 'log_level = "debug"' >> /etc/p2pd/p2pd.toml`])
    await box.ok(['systemctl', 'reload', 'p2pd'])
    const journal = await waitFor(async () => {
      const out = await box.ok(['journalctl', '-u', 'p2pd', '--no-pager', '-o', 'cat'])
      return out.includes('reloaded configuration') && out
    }, { timeoutMs: 10_000, what: 'the reload logged' })
    // Under systemd the logs are JSON lines on stdout, one journal entry each.
    const line = journal.split('\n').find((l) => l.includes('reloaded configuration'))!
    expect(JSON.parse(line)).toMatchObject({ msg: 'reloaded configuration', logLevel: 'debug', changed: ['log_level'] })
    expect((await box.ok(['systemctl', 'is-active', 'p2pd'])).trim()).toBe('active')
  }, 30_000)

  it('systemctl stop leaves no p2pd process', async () => {
    await box.ok(['systemctl', 'stop', 'p2pd'])
    expect((await box.run(['systemctl', 'is-active', 'p2pd'])).stdout.trim()).toBe('inactive')
    expect(await box.run(['pgrep', '-u', 'p2pd'])).toMatchObject({ code: 1, stdout: '' })
    // bob (a transient unit) still runs: only p2pd.service was stopped.
    expect((await box.ok(['systemctl', 'is-active', 'p2pd-bob'])).trim()).toBe('active')
  }, 30_000)
})
