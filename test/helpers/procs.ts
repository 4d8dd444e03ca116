// Real processes for integration tests: the built broker, daemons and CLI, each tracked by PID
// and killed at teardown even when a test fails.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { waitFor } from './wait-for.js'

const ROOT = resolve(import.meta.dirname, '../..')
/** Path of a built entry point. */
export const bin = (name: 'broker' | 'daemon' | 'ctl'): string => join(ROOT, 'dist', name, 'bin.js')

/** A spawned process with its output collected. */
export interface Proc {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/** Spawns processes and owns their teardown. */
export class Procs {
  private readonly procs = new Set<Proc>()
  private readonly dirs: string[] = []

  /** A fresh temp dir (short path: Unix sockets live in it), removed at teardown. */
  async tempDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'p2pt-'))
    this.dirs.push(d)
    return d
  }

  /** Spawn `node script args`. */
  spawn(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20000)))
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)))
    const p: Proc = { child, stdout: () => out, stderr: () => err, exited }
    this.procs.add(p)
    void exited.then(() => this.procs.delete(p))
    return p
  }

  /** Start a broker on an ephemeral loopback port; resolves with its UDP port. */
  async broker(args: string[] = []): Promise<{ proc: Proc; port: number }> {
    const proc = this.spawn(bin('broker'), ['--listen', '127.0.0.1:0', '--log-level', 'warn', ...args])
    const m = await waitFor(() => /listening udp 127\.0\.0\.1:(\d+)/.exec(proc.stdout()), { timeoutMs: 10_000, what: `broker ready (stderr: ${proc.stderr()})` })
    return { proc, port: Number(m[1]) }
  }

  /** Start a daemon; resolves once it printed its ready line. */
  async daemon(opts: { name: string; brokerPort: number; stateDir: string; socket: string; extra?: string[] }): Promise<{ proc: Proc; key: string }> {
    const proc = this.spawn(bin('daemon'), [
      '--name', opts.name, '--broker', `127.0.0.1:${opts.brokerPort}`, '--state-dir', opts.stateDir, '--api-socket', opts.socket, '--log-level', 'warn', ...(opts.extra ?? []),
    ])
    const m = await waitFor(() => {
      if (proc.child.exitCode !== null) throw new Error(`p2pd ${opts.name} exited: ${proc.stderr()}`)
      return / key=([0-9a-f]{64}) /.exec(proc.stdout())
    }, { timeoutMs: 10_000, what: `p2pd ${opts.name} ready` })
    return { proc, key: m[1]! }
  }

  /** Run p2pctl to completion. */
  async ctl(socket: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const p = this.spawn(bin('ctl'), ['--api', socket, ...args])
    const code = await p.exited
    return { code, stdout: p.stdout(), stderr: p.stderr() }
  }

  /** Stop one process (SIGTERM, then SIGKILL) and wait for it. */
  async stop(p: Proc): Promise<number | null> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode
    p.child.kill('SIGTERM')
    const t = setTimeout(() => p.child.kill('SIGKILL'), 5000)
    const code = await p.exited
    clearTimeout(t)
    return code
  }

  /** Kill everything we started and remove temp dirs. */
  async teardown(): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stop(p)))
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })))
  }
}
