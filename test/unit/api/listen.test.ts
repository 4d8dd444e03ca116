import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../../daemon/api/app.js'
import { isLoopbackHost, listenTcp, listenUnix } from '../../../daemon/api/listen.js'
import { FakeDaemonApi } from './fake-daemon-api.js'

let dir: string
const apps: FastifyInstance[] = []

async function newApp(): Promise<FastifyInstance> {
  const app = await buildApp({ api: new FakeDaemonApi(), version: 'test' })
  apps.push(app)
  return app
}

function getHealth(socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/v1/health', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject).end()
  })
}

// A socket file whose listener is gone, exactly as a crashed daemon leaves it: a child binds the
// socket and is SIGKILLed (a clean close in this process would unlink the file).
async function makeStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.stdout.write('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`helper exited early (${code})`)))
  })
  child.removeAllListeners('exit')
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2pd-listen-'))
})
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
  await rm(dir, { recursive: true, force: true })
})

describe('listenUnix', () => {
  it('listens with mode 0660 and creates a missing parent dir with 0750', async () => {
    const path = join(dir, 'run', 'p2pd.sock')
    await listenUnix(await newApp(), path)
    const st = await stat(path)
    expect(st.isSocket()).toBe(true)
    expect(st.mode & 0o777).toBe(0o660)
    expect((await stat(join(dir, 'run'))).mode & 0o777).toBe(0o750)
    expect(await getHealth(path)).toEqual({ status: 200, body: '{"ok":true}' })
  })

  it('is never looser than 0660, even the moment it appears and with umask 0', async () => {
    const path = join(dir, 'p2pd.sock')
    const app = await newApp()
    // onListen runs as soon as the socket is bound, before listenUnix's own chmod; fastify does
    // not wait for it, so the test does (on a loaded machine it could still be running).
    let born: (mode: number) => void = () => {}
    const atBirth = new Promise<number>((resolve) => (born = resolve))
    app.addHook('onListen', async () => {
      born((await stat(path)).mode & 0o777)
    })
    const previous = process.umask(0)
    try {
      await listenUnix(app, path)
    } finally {
      process.umask(previous)
    }
    expect(await atBirth).toBe(0o660)
  })

  it('replaces a stale socket left by a dead process', async () => {
    const path = join(dir, 'p2pd.sock')
    await makeStaleSocket(path)
    expect((await stat(path)).isSocket()).toBe(true)
    await expect(getHealth(path)).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    await listenUnix(await newApp(), path)
    expect((await getHealth(path)).status).toBe(200)
  })

  it('refuses a socket something is listening on, and leaves it alone', async () => {
    const path = join(dir, 'p2pd.sock')
    await listenUnix(await newApp(), path)
    await expect(listenUnix(await newApp(), path)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: `another p2pd is already listening on ${path}` })
    expect((await getHealth(path)).status).toBe(200)
  })

  it('refuses to remove a path that is not a socket', async () => {
    const path = join(dir, 'p2pd.sock')
    await writeFile(path, 'precious')
    await expect(listenUnix(await newApp(), path)).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
    expect((await stat(path)).isFile()).toBe(true)
  })

  it('refuses a path longer than 107 bytes, naming it', async () => {
    const path = join(dir, 'x'.repeat(120) + '.sock')
    const err = await listenUnix(await newApp(), path).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' })
    expect((err as Error).message).toContain(path)
  })

  it('accepts a path of exactly 107 bytes', async () => {
    const pad = 107 - Buffer.byteLength(join(dir, '.sock'))
    const path = join(dir, 'y'.repeat(pad) + '.sock')
    expect(Buffer.byteLength(path)).toBe(107)
    await listenUnix(await newApp(), path)
    expect((await getHealth(path)).status).toBe(200)
  })
})

describe('listenTcp', () => {
  it.each(['0.0.0.0', '192.168.1.10', '::', 'example.com', '10.0.0.1', '::ffff:10.0.0.1'])('refuses non-loopback host %s', async (host) => {
    await expect(listenTcp(await newApp(), host, 0)).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
  })

  it('listens on 127.0.0.1', async () => {
    const url = await listenTcp(await newApp(), '127.0.0.1', 0)
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(`${url}/v1/health`)
    expect(await res.json()).toEqual({ ok: true })
  })

  it('classifies loopback names', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true)
    for (const h of ['128.0.0.1', '::2', 'localhost.evil.com', '', '1.127.0.0']) expect(isLoopbackHost(h), h).toBe(false)
  })
})
