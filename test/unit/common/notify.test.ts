// Readiness notification: only when systemd asks, via systemd-notify with our PID; and the
// logger's level can be changed for every child at once (SIGHUP reload).
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NotifyError, notifyReady } from '../../../common/notify.js'
import { createLogger, setLogLevel } from '../../../common/logger.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2pn-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('notifyReady', () => {
  it('does nothing without NOTIFY_SOCKET', async () => {
    expect(await notifyReady({ env: {}, command: '/nonexistent' })).toBe(false)
  })

  it('runs systemd-notify --ready --pid=PID when NOTIFY_SOCKET is set', async () => {
    const stub = join(dir, 'notify-stub')
    const out = join(dir, 'args')
    await writeFile(stub, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" > ${out}\n`)
    await chmod(stub, 0o755)
    expect(await notifyReady({ env: { NOTIFY_SOCKET: '/run/systemd/notify' }, command: stub, pid: 4242, status: 'up' })).toBe(true)
    expect((await readFile(out, 'utf8')).trim()).toBe('/run/systemd/notify --ready --pid=4242 --status=up')
  })

  it('fails with a hint when the helper is missing or fails', async () => {
    const e = await notifyReady({ env: { NOTIFY_SOCKET: '/x' }, command: join(dir, 'missing') }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(NotifyError)
    expect((e as NotifyError).message).toMatch(/not found/)
    expect((e as NotifyError).hint).toMatch(/Type=simple/)
    await expect(notifyReady({ env: { NOTIFY_SOCKET: '/x' }, command: '/bin/false' })).rejects.toThrow(/failed/)
  })
})

describe('setLogLevel', () => {
  it('changes the level of the root and of children made before and after', () => {
    const root = createLogger({ name: 't', level: 'info' })
    const child = root.child({ component: 'a' })
    const grandchild = child.child({ sub: 'b' })
    setLogLevel(root, 'debug')
    expect([root.level, child.level, grandchild.level, root.child({}).level]).toEqual(['debug', 'debug', 'debug', 'debug'])
  })
})
