// `npm run demo`: the real broker and two real p2pd daemons (alice, bob) on loopback in a temp
// dir; bob exposes a small HTTP service, alice forwards a port to it, data moves through the
// tunnel, and the p2pctl commands to try are printed. Ctrl-C cleans up; --once exits by itself.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDemoService, type DemoService } from './service.js'

const DIST = fileURLToPath(new URL('..', import.meta.url))
const BIN = {
  broker: join(DIST, 'broker', 'bin.js'),
  daemon: join(DIST, 'daemon', 'bin.js'),
  ctl: join(DIST, 'ctl', 'bin.js'),
}
const READY_TIMEOUT_MS = 15_000
const CTL_TIMEOUT_MS = 30_000
const HTTP_TIMEOUT_MS = 60_000
const KILL_GRACE_MS = 3_000
const STDERR_TAIL = 15
const DOWNLOAD_BYTES = 16 * 1024 * 1024
const ECHO_BYTES = 1024 * 1024

/** A spawned program: its output so far and its last stderr lines. */
interface Child {
  name: string
  proc: ChildProcess
  stdout: string
  stderrTail: string[]
  exited: Promise<void>
}

const say = (line = ''): void => void process.stdout.write(line + '\n')
const indent = (text: string, pad = '      '): string => text.trimEnd().split('\n').map((l) => pad + l).join('\n')

/** Children's environment: ours minus P2PD_* so a user's config can't leak into the demo. */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('P2PD_')))
}

class Demo {
  readonly children = new Set<Child>()
  stopping = false
  dir = ''
  service: DemoService | undefined
  private failWith: (err: Error) => void = () => {}
  /** Rejects when a long-lived child dies while the demo is not stopping. */
  readonly failed = new Promise<never>((_resolve, reject) => (this.failWith = reject))

  /** Spawn `node <script> args`; when `longLived`, its death fails the demo. */
  spawn(name: string, script: string, args: string[], longLived: boolean): Child {
    if (this.stopping) throw new Error('stopping')
    const proc = spawn(process.execPath, [script, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let partial = ''
    const child: Child = {
      name,
      proc,
      stdout: '',
      stderrTail: [],
      exited: new Promise((resolve) => proc.once('close', () => resolve())),
    }
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (child.stdout += d))
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n')
      partial = lines.pop() ?? ''
      child.stderrTail.push(...lines.filter((l) => l.trim() !== ''))
      child.stderrTail.splice(0, Math.max(0, child.stderrTail.length - STDERR_TAIL))
    })
    proc.once('error', (err) => this.failWith(new ChildError(child, `could not start ${name}: ${err.message}`)))
    proc.once('exit', (code, signal) => {
      this.children.delete(child)
      if (partial.trim() !== '') child.stderrTail.push(partial)
      if (longLived && !this.stopping) this.failWith(new ChildError(child, `${name} exited unexpectedly (${signal ?? `code ${code}`})`))
    })
    this.children.add(child)
    return child
  }

  /** Resolve with the first stdout line of `child` matching `re`; reject on exit or after the timeout. */
  waitForLine(child: Child, re: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (const line of child.stdout.split('\n')) {
          const m = re.exec(line)
          if (m) {
            done()
            resolve(m)
            return true
          }
        }
        return false
      }
      const onExit = (): void => {
        if (check()) return
        done()
        reject(new ChildError(child, `${child.name} exited before it was ready`))
      }
      const timer = setTimeout(() => {
        done()
        reject(new ChildError(child, `${child.name} not ready after ${READY_TIMEOUT_MS / 1000} s`))
      }, READY_TIMEOUT_MS)
      const done = (): void => {
        clearTimeout(timer)
        child.proc.stdout!.off('data', check)
        child.proc.off('exit', onExit)
      }
      child.proc.stdout!.on('data', check)
      child.proc.once('exit', onExit)
      check()
    })
  }

  /** Run p2pctl against a daemon's API socket; resolve with its stdout (and stderr progress). */
  async ctl(who: string, sock: string, args: string[]): Promise<{ out: string; err: string }> {
    say(`      ${who}: p2pctl ${args.join(' ')}`)
    const child = this.spawn(`p2pctl ${args[0]}`, BIN.ctl, ['--api', sock, ...args], false)
    let err = ''
    child.proc.stderr!.on('data', (d: string) => (err += d))
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), CTL_TIMEOUT_MS)
    const code = await new Promise<number | null>((resolve) => child.proc.once('close', (c) => resolve(c)))
    clearTimeout(timer)
    if (code !== 0) throw new ChildError(child, `p2pctl ${args.join(' ')} failed (exit ${code ?? 'killed'})`)
    return { out: child.stdout, err }
  }

  /** Stop every child (SIGTERM, SIGKILL after a grace period), the service, and remove the temp dir. */
  async cleanup(): Promise<void> {
    this.stopping = true
    await Promise.all([...this.children].map((c) => stopChild(c)))
    await this.service?.close()
    if (this.dir) await rm(this.dir, { recursive: true, force: true })
  }
}

/** An error that carries the child whose stderr explains it. */
class ChildError extends Error {
  constructor(readonly child: Child, message: string) {
    super(message)
  }
}

async function stopChild(c: Child): Promise<void> {
  const { proc } = c
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(proc.pid!, sig)
    } catch {
      // already gone
    }
  }
  kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), KILL_GRACE_MS)))
  if (await Promise.race([c.exited.then(() => false), timedOut])) {
    kill('SIGKILL')
    await c.exited
  }
  clearTimeout(timer)
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', () => resolve()))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** One HTTP request to 127.0.0.1:port on a fresh connection; the body is hashed (and kept, except for /bytes downloads). */
function request(port: number, method: string, path: string, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, timeout: HTTP_TIMEOUT_MS }, (res) => {
      const hash = createHash('sha256')
      const parts: Buffer[] = []
      let bytes = 0
      res.on('data', (d: Buffer) => {
        hash.update(d)
        bytes += d.length
        if (method !== 'GET' || path === '/') parts.push(d)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), sha256: hash.digest('hex'), bytes }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${HTTP_TIMEOUT_MS / 1000} s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** The command to show for p2pctl: relative to the cwd when that's short, else absolute. */
function ctlCommand(): string {
  const rel = relative(process.cwd(), BIN.ctl)
  return rel.startsWith('..') || isAbsolute(rel) ? `node ${BIN.ctl}` : `node ${rel}`
}

async function makeTempDir(): Promise<string> {
  let dir = await mkdtemp(join(tmpdir(), 'p2pd-demo-'))
  if (Buffer.byteLength(join(dir, 'alice.sock')) >= 100 && process.platform !== 'win32') {
    // Unix socket paths are limited to ~104 bytes; fall back to /tmp when TMPDIR is deep.
    await rm(dir, { recursive: true, force: true })
    dir = await mkdtemp('/tmp/p2pd-demo-')
  }
  return dir
}

/** The demo's steps, up to printing the commands to try. */
async function run(demo: Demo): Promise<void> {
  say('p2pd demo: a broker and two daemons, alice and bob, on loopback')
  demo.dir = await makeTempDir()
  say(`temp dir: ${demo.dir}`)
  say()

  say('[1] Starting the broker (p2p-broker --listen 127.0.0.1:0) ...')
  const broker = demo.spawn('broker', BIN.broker, ['--listen', '127.0.0.1:0', '--log-level', 'warn'], true)
  const [, brokerPort] = await demo.waitForLine(broker, /^listening udp 127\.0\.0\.1:(\d+)$/)
  say(`      broker listening on udp 127.0.0.1:${brokerPort}`)

  say('[2] Starting the daemons alice and bob (p2pd --broker 127.0.0.1:' + brokerPort + ') ...')
  const sock = { alice: join(demo.dir, 'alice.sock'), bob: join(demo.dir, 'bob.sock') }
  const daemons = await Promise.all((['alice', 'bob'] as const).map(async (name) => {
    const stateDir = join(demo.dir, name)
    if (demo.stopping) throw new Error('stopping')
    await mkdir(stateDir, { recursive: true })
    const child = demo.spawn(name, BIN.daemon, ['--name', name, '--broker', `127.0.0.1:${brokerPort}`, '--state-dir', stateDir, '--api-socket', sock[name], '--log-level', 'warn'], true)
    const m = await demo.waitForLine(child, /^p2pd ready name=(\S+) key=([0-9a-f]+) udp=(\S+) api=(.+)$/)
    return { name, key: m[2]!, udp: m[3]! }
  }))
  for (const d of daemons) say(`      ${d.name.padEnd(5)} ready  key ${d.key}  udp ${d.udp}`)

  demo.service = await startDemoService()
  const svcPort = demo.service.port
  say(`[3] bob's service: HTTP on 127.0.0.1:${svcPort} (GET /, GET /bytes?n=N, POST /echo), run by this demo`)

  say(`[4] bob lets alice reach it:`)
  say(indent((await demo.ctl('bob', sock.bob, ['expose', String(svcPort), '--peer', 'alice'])).out, '        '))

  const fwdPort = await freePort()
  say(`[5] alice listens on 127.0.0.1:${fwdPort} and forwards to bob's port ${svcPort}:`)
  say(indent((await demo.ctl('alice', sock.alice, ['forward', String(fwdPort), '--peer', 'bob', '--to', String(svcPort)])).out, '        '))

  say('[6] alice punches a path to bob (progress on stderr, the path on stdout):')
  const conn = await demo.ctl('alice', sock.alice, ['connect', 'bob'])
  if (conn.err.trim()) say(indent(conn.err, '        · '))
  say(indent(conn.out, '        '))

  // The path line says `direct tcp …` once the kernel TCP path is up, else `direct udp …`.
  const over = /\btcp\b/.test(conn.out) ? 'encrypted, kernel TCP path' : 'encrypted UDP'
  say(`[7] Moving data: 127.0.0.1:${fwdPort} -> alice ==(${over})==> bob -> 127.0.0.1:${svcPort}`)
  const hello = await request(fwdPort, 'GET', '/')
  if (hello.status !== 200) throw new Error(`GET / through the forward returned ${hello.status}`)
  say(`      GET /  -> ${hello.status} ${JSON.stringify(hello.body.toString('utf8').trim())}`)

  const t0 = performance.now()
  const dl = await request(fwdPort, 'GET', `/bytes?n=${DOWNLOAD_BYTES}`)
  const secs = (performance.now() - t0) / 1000
  const want = dl.headers['x-sha256']
  if (dl.status !== 200) throw new Error(`GET /bytes returned ${dl.status}`)
  if (dl.bytes !== DOWNLOAD_BYTES) throw new Error(`GET /bytes: got ${dl.bytes} bytes, expected ${DOWNLOAD_BYTES}`)
  if (dl.sha256 !== want) throw new Error(`GET /bytes: sha256 ${dl.sha256} does not match x-sha256 ${String(want)}`)
  say(`      GET /bytes?n=${DOWNLOAD_BYTES} -> ${(dl.bytes / 2 ** 20).toFixed(0)} MiB in ${secs.toFixed(2)} s (${(dl.bytes / 1e6 / secs).toFixed(1)} MB/s)`)
  say(`      sha256 verified: ${dl.sha256} matches x-sha256`)

  const payload = randomBytes(ECHO_BYTES)
  const echo = await request(fwdPort, 'POST', '/echo', payload)
  if (echo.status !== 200 || !echo.body.equals(payload)) {
    throw new Error(`POST /echo: status ${echo.status}, ${echo.body.length} bytes back, ${echo.body.equals(payload) ? 'identical' : 'different'}`)
  }
  say(`      POST /echo 1 MiB -> ${echo.body.length} bytes back, identical`)

  say('[8] What alice knows about her peers:')
  say(indent((await demo.ctl('alice', sock.alice, ['peers'])).out, '        '))

  const ctl = ctlCommand()
  const a = `P2PD_API=${sock.alice} ${ctl}`
  const b = `P2PD_API=${sock.bob} ${ctl}`
  say()
  say('Commands to try (in another terminal, while this demo runs):')
  say(`  ${a} status`)
  say(`  ${a} peers`)
  say(`  ${a} ping bob --count 5 --interval 0.2`)
  say(`  ${a} forwards --json`)
  say(`  ${a} watch            # then curl below and see the connection events`)
  say(`  ${b} exposes`)
  say(`  ${b} peers --json`)
  say(`  ${ctl} --api ${sock.bob} ping alice`)
  say(`  curl http://127.0.0.1:${fwdPort}/`)
  say(`  curl -s 'http://127.0.0.1:${fwdPort}/bytes?n=1048576' -D - -o /dev/null   # x-sha256 header`)
  say(`  curl -s --data-binary 'hi bob' http://127.0.0.1:${fwdPort}/echo`)
}

async function main(): Promise<void> {
  const once = process.argv.includes('--once') || process.env.P2PD_DEMO_ONCE === '1'
  const demo = new Demo()
  let onStop: (sig: string) => void = () => {}
  const stopped = new Promise<string>((resolve) => (onStop = resolve))
  process.once('SIGINT', () => onStop('SIGINT'))
  process.once('SIGTERM', () => onStop('SIGTERM'))
  // Last resort if the demo itself crashes: the children are detached, so kill them here.
  process.once('exit', () => {
    for (const c of demo.children) if (c.proc.pid !== undefined) try { process.kill(c.proc.pid, 'SIGKILL') } catch { /* gone */ }
  })

  let code = 0
  try {
    const steps = run(demo)
    const first = await Promise.race([steps.then(() => 'done' as const), demo.failed, stopped])
    if (first === 'done' && !once) {
      say()
      say('Press Ctrl-C to stop and clean up.')
      await Promise.race([demo.failed, stopped])
    }
    if (first !== 'done') steps.catch(() => {}) // interrupted mid-way: its failure no longer matters
    say()
    say('Stopping: daemons and broker, the service, the temp dir ...')
  } catch (err) {
    code = 1
    process.stdout.write('\n')
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
    const blamed = err instanceof ChildError ? [err.child] : [...demo.children]
    for (const c of blamed) {
      if (c.stderrTail.length > 0) process.stderr.write(`last stderr lines of ${c.name}:\n${indent(c.stderrTail.join('\n'), '  | ')}\n`)
    }
    process.stderr.write('cleaning up ...\n')
  }
  await demo.cleanup()
  say(code === 0 ? `Cleaned up (${demo.dir || 'no temp dir'} removed). Bye.` : 'Cleaned up.')
  process.exit(code)
}

void main()
