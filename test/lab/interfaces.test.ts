// Interfaces that appear while the daemon runs are used for new paths within seconds.
import { describe, expect, it } from 'vitest'
import { forwardedPair, labPerTest, type LabDaemon, type LabNodes } from './nodes.js'
import { labSkipReason } from './netns.js'
import { transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'
import { request } from 'node:http'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const MiB = 1024 * 1024

/** `on`'s active path to `peer` (peers --json), or null. */
async function pathOf(nodes: LabNodes, on: LabDaemon, peer: string): Promise<{ proto: string; remote: string } | null> {
  const r = await nodes.ctl(on, ['peers', '--json'])
  return (JSON.parse(r.stdout) as { name: string; path: { proto: string; remote: string } | null }[]).find((p) => p.name === peer)?.path ?? null
}

/** One daemon counter, read from GET /metrics on its API socket. */
function metric(socket: string, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/metrics', headers: { host: 'localhost' } }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve(Number(new RegExp(`^p2pd_events_total\\{name="${name}"\\} (\\d+)`, 'm').exec(body)?.[1] ?? 0)))
    })
    req.on('error', reject)
    req.end()
  })
}

const reason = await labSkipReason('the interface lab')

describe.skipIf(reason !== null)('interfaces that come and go', () => {
  const freshLab = labPerTest()

  it('an interface added mid-run is announced at once and gives new peers a LAN path', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('cone'))
    const c = await lab.host('c', await lab.router('cone'))
    await nodes.broker()
    const alice = await nodes.daemon('alice', a)
    const carol = await nodes.daemon('carol', c)
    // Counted before the LAN appears: alice may notice it and re-register before a read after it.
    const registrations = await metric(alice.socket, 'broker_registrations')
    // alice and carol walk into the same office: a switched LAN neither had when it started.
    const office = await lab.lan()
    const aliceOffice = await lab.attach(a, office)
    await lab.attach(c, office)
    // Within a few seconds alice notices and re-registers with the new address (the periodic
    // refresh is 25 s away), so carol's first connection finds the LAN path and prefers it.
    const started = Date.now()
    await waitFor(async () => (await metric(alice.socket, 'interface_changes')) >= 1, { timeoutMs: 10_000, intervalMs: 200, what: 'alice to notice her new interface' })
    // The poll runs every 2 s; the bound leaves room for a loaded machine's slow API calls.
    expect(Date.now() - started).toBeLessThan(8_000)
    // ...and the broker to have taken her new address (a registration acknowledged since).
    await waitFor(async () => (await metric(alice.socket, 'broker_registrations')) > registrations, { timeoutMs: 5_000, intervalMs: 100, what: 'alice re-registered' })
    // The introduction carol gets now carries alice's office address...
    const r = await nodes.ctl(carol, ['connect', 'alice', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(new RegExp(`probing .*${aliceOffice.replace(/\./g, '\\.')}:`))
    // ...and the LAN path wins. The selection window is short (80 ms); on a loaded machine the
    // LAN answer can miss it, so a new path is tried a few times (each is a fresh punch).
    const paths: string[] = []
    for (let attempt = 0; attempt < 4; attempt++) {
      const c = attempt === 0 ? r : await nodes.ctl(carol, ['connect', 'alice', '--json'])
      expect(c.code, c.stderr).toBe(0)
      const remote = (JSON.parse(c.stdout) as { path: { remote: string } }).path.remote
      paths.push(remote)
      if (remote.startsWith(`${aliceOffice}:`)) break
      expect((await nodes.ctl(carol, ['peer', 'remove', 'alice'])).code).toBe(0)
    }
    expect(paths.at(-1)!.startsWith(`${aliceOffice}:`), `paths tried: ${paths.join(', ')}`).toBe(true)
  })

  it('interfaces_deny keeps an interface out of the announcement; interfaces lists it with the reason and its metadata', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('cone'))
    const c = await lab.host('c', await lab.router('cone'))
    const office = await lab.lan()
    const aliceOffice = await lab.attach(a, office)
    await lab.attach(c, office)
    await nodes.broker()
    // alice keeps her office interface private by CIDR; carol uses everything.
    const alice = await nodes.daemon('alice', a, { extra: ['--interface-deny', `${office.prefix}.0/24`] })
    const carol = await nodes.daemon('carol', c)
    const r = await nodes.ctl(alice, ['interfaces', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const list = JSON.parse(r.stdout) as { name: string; address: string; inUse: boolean; reason: string | null; operstate: string | null }[]
    const v4 = new Map(list.filter((i) => !i.address.includes(':')).map((i) => [i.name, i]))
    expect(v4.get('eth1')).toMatchObject({ address: aliceOffice, inUse: false, reason: `denied by interfaces_deny "${office.prefix}.0/24"` })
    expect(v4.get('eth0')).toMatchObject({ address: a.ip, inUse: true, reason: null })
    // IPv6 link-local addresses are listed and never used.
    expect(list.filter((i) => i.address.startsWith('fe80:')).every((i) => !i.inUse && i.reason === 'link-local')).toBe(true)
    // systeminformation read the namespace's own interfaces: both veths are up.
    expect(v4.get('eth0')?.operstate).toBe('up')
    const table = await nodes.ctl(alice, ['interfaces'])
    expect(table.stdout).toMatch(new RegExp(`eth1 .*${aliceOffice.replace(/\./g, '\\.')} .*no: denied by interfaces_deny`))
    // carol's introduction to alice carries no office address, so the path is over the internet.
    const conn = await nodes.ctl(carol, ['connect', 'alice', '--json'])
    expect(conn.code, conn.stderr).toBe(0)
    expect(conn.stderr).toMatch(/probing \d+ candidate/)
    expect(conn.stderr).not.toContain(`${aliceOffice}:`)
    expect((JSON.parse(conn.stdout) as { path: { remote: string } }).path.remote.startsWith(`${office.prefix}.`)).toBe(false)
    // Nor is the kernel TCP path: alice neither offers her office address nor dials carol's.
    const tcpPath = async (on: typeof alice, peer: string): Promise<{ proto: string; remote: string } | undefined> =>
      (JSON.parse((await nodes.ctl(on, ['peers', '--json'])).stdout) as { name: string; path: { proto: string; remote: string } | null }[]).find((p) => p.name === peer)?.path ?? undefined
    await waitFor(async () => (await tcpPath(carol, 'alice'))?.proto === 'tcp', { timeoutMs: 15_000, intervalMs: 100, what: 'the kernel TCP path' })
    expect((await tcpPath(carol, 'alice'))?.remote.startsWith(`${office.prefix}.`)).toBe(false)
    expect((await tcpPath(alice, 'carol'))?.remote.startsWith(`${office.prefix}.`)).toBe(false)
  })

  it('a LAN both peers walk into mid-session becomes their path without a broker, and a live upload moves onto it, sha256-equal', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('cone'))
    const b = await lab.host('b', await lab.router('cone'))
    const { alice, bob } = await forwardedPair(lab, nodes, a, b)
    expect((await nodes.ctl(alice, ['connect', 'bob'])).code).toBe(0)
    const gate = join(tmpdir(), `p2pl-gate-${process.pid}-${Date.now()}`)
    try {
      // An upload through the internet path, held half-way until the path has moved.
      const size = 8 * MiB
      const running = transfer(lab, a, 'upload', 9100, size, 120_000, { gate })
      const bytesOut = async (): Promise<number> => (JSON.parse((await nodes.ctl(alice, ['forwards', '--json'])).stdout) as { bytesOut: number }[])[0]?.bytesOut ?? 0
      await waitFor(async () => (await bytesOut()) >= size / 2, { timeoutMs: 30_000, intervalMs: 50, what: 'the first half sent over the internet' })
      const office = await lab.lan()
      const onOffice = (p: { remote: string } | null): boolean => p?.remote.startsWith(`${office.prefix}.`) === true
      expect(onOffice(await pathOf(nodes, alice, 'bob'))).toBe(false)
      // Both hosts join one LAN with addresses neither had: each learns the other's over the
      // session (ADDRS), probes it and moves (a better class holds 5 s; moves are 20 s apart).
      await lab.attach(a, office)
      await lab.attach(b, office)
      const diag = (): string => `alice: ${alice.err().slice(-3000)}\nbob: ${bob.err().slice(-3000)}`
      for (const [on, peer] of [[alice, 'bob'], [bob, 'alice']] as const) {
        await waitFor(async () => onOffice(await pathOf(nodes, on, peer)), { timeoutMs: 60_000, intervalMs: 250, what: `${on.name}'s path to ${peer} on the office LAN\n${diag()}` })
      }
      await writeFile(gate, '')
      const done = await running
      expect(done, `${JSON.stringify(done)}\n${diag()}`).toMatchObject({ ok: true, bytes: size })
      // No broker re-punch: the session moved by itself.
      for (const d of [alice, bob]) expect(await metric(d.socket, 'paths_healed')).toBe(0)
    } finally {
      await rm(gate, { force: true })
    }
  }, 120_000)
})

