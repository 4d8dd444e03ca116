// Real clients no one here wrote, over a p2pd forward across two cone NATs: OpenSSH and curl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile, chmod, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Lab, type Host } from './lab.js'
import { LabNodes, type LabDaemon } from './nodes.js'
import { labSkipReason, sh } from './netns.js'
import { waitFor } from '../helpers/wait-for.js'

const reason = await labSkipReason('the real-client lab tests', ['sshd', 'ssh', 'ssh-keygen', 'curl', 'python3'])

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

describe.skipIf(reason !== null)('real clients through a forward (cone/cone)', () => {
  let lab: Lab
  let nodes: LabNodes
  let a: Host
  let b: Host
  let alice: LabDaemon
  let bob: LabDaemon
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pc-'))
    lab = await Lab.create()
    nodes = new LabNodes(lab)
    await nodes.init()
    a = await lab.host('a', await lab.router('cone'))
    b = await lab.host('b', await lab.router('cone'))
    await nodes.broker()
    alice = await nodes.daemon('alice', a)
    bob = await nodes.daemon('bob', b)
  })

  afterAll(async () => {
    await lab?.destroy()
    await nodes?.cleanup()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('ssh from a to sshd on b through p2pctl forward', async () => {
    const key = join(dir, 'id_ed25519')
    const hostKey = join(dir, 'host_ed25519')
    await sh(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])
    await sh(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
    const authorized = join(dir, 'authorized_keys')
    await writeFile(authorized, await readFile(`${key}.pub`))
    await chmod(authorized, 0o600)
    const config = join(dir, 'sshd_config')
    await writeFile(config, [
      'ListenAddress 127.0.0.1', 'Port 2222', `HostKey ${hostKey}`, `AuthorizedKeysFile ${authorized}`,
      'PermitRootLogin yes', 'PasswordAuthentication no', 'UsePAM no', 'StrictModes no', `PidFile ${join(dir, 'sshd.pid')}`,
    ].join('\n') + '\n')
    await sh(['mkdir', '-p', '/run/sshd'])
    const sshd = lab.spawn(b.ns, ['/usr/sbin/sshd', '-D', '-e', '-f', config])
    let sshdErr = ''
    sshd.stderr!.on('data', (d: Buffer) => (sshdErr += d.toString()))
    await waitFor(async () => (await lab.exec(b.ns, ['ss', '-ltn'])).includes('127.0.0.1:2222'), { timeoutMs: 10_000, what: `sshd listening (${sshdErr})` })

    expect((await nodes.ctl(bob, ['expose', '2222', '--peer', 'alice'])).code).toBe(0)
    const f = await nodes.ctl(alice, ['forward', '2200', '--peer', 'bob', '--to', '2222'])
    expect(f.code, f.stderr).toBe(0)
    const payload = randomBytes(4 * 1024 * 1024)
    const input = join(dir, 'payload')
    await writeFile(input, payload)
    const out = await lab.exec(a.ns, ['sh', '-c', `ssh -p 2200 -i ${key} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 'echo hello-from-b; sha256sum' < ${input}`], 60_000)
    expect(out).toContain('hello-from-b')
    expect(out).toContain(sha(payload))
  })

  it('curl downloads a file over HTTP from a server on b, sha256-equal', async () => {
    const www = join(dir, 'www')
    await sh(['mkdir', '-p', www])
    const file = randomBytes(16 * 1024 * 1024)
    await writeFile(join(www, 'file.bin'), file)
    lab.spawn(b.ns, ['python3', '-m', 'http.server', '8080', '--bind', '127.0.0.1', '--directory', www])
    await waitFor(async () => (await lab.exec(b.ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8080/']).catch(() => '')) === '200', { timeoutMs: 10_000, what: 'http server on b' })
    expect((await nodes.ctl(bob, ['expose', '8080', '--peer', 'alice'])).code).toBe(0)
    const f = await nodes.ctl(alice, ['forward', '8000', '--peer', 'bob', '--to', '8080'])
    expect(f.code, f.stderr).toBe(0)
    const out = await lab.exec(a.ns, ['sh', '-c', 'curl -sS --max-time 60 http://127.0.0.1:8000/file.bin | sha256sum'], 90_000)
    expect(out.split(' ')[0]).toBe(sha(file))
  })
})
