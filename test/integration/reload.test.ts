// SIGHUP applies a changed broker list from the config file without a restart.
import { afterAll, describe, expect, it } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Procs, bin } from '../helpers/procs.js'
import { waitFor } from '../helpers/wait-for.js'

describe('reload', () => {
  const procs = new Procs()
  afterAll(() => procs.teardown())

  it('SIGHUP moves the daemon to the brokers the config file now names', async () => {
    const dir = await procs.tempDir()
    const sock = join(dir, 'd.sock')
    const conf = join(dir, 'p2pd.toml')
    const one = await procs.broker()
    const two = await procs.broker()
    await writeFile(conf, `name = "dora"\nstate_dir = "${join(dir, 'state')}"\napi_socket = "${sock}"\nlog_level = "warn"\nbrokers = ["127.0.0.1:${one.port}"]\n`)
    const d = procs.spawn(bin('daemon'), ['--config', conf])
    await waitFor(() => d.stdout().includes('p2pd ready'), { timeoutMs: 10_000, what: `p2pd ready (${d.stderr()})` })
    const brokers = async (): Promise<{ address: string; state: string }[]> => JSON.parse((await procs.ctl(sock, ['status', '--json'])).stdout).brokers
    await waitFor(async () => (await brokers()).some((b) => b.address === `127.0.0.1:${one.port}` && b.state === 'registered'), { timeoutMs: 10_000, what: 'registered with the first broker' })
    await writeFile(conf, `name = "dora"\nstate_dir = "${join(dir, 'state')}"\napi_socket = "${sock}"\nlog_level = "warn"\nbrokers = ["127.0.0.1:${two.port}"]\n`)
    d.child.kill('SIGHUP')
    const after = await waitFor(async () => {
      const b = await brokers()
      return b.length === 1 && b[0]!.address === `127.0.0.1:${two.port}` && b[0]!.state === 'registered' ? b : null
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'registered with the second broker only' })
    expect(after).toHaveLength(1)
    expect(d.child.exitCode).toBeNull()
  })
})
