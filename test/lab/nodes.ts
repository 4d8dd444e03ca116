// Brokers and daemons inside lab namespaces, and p2pctl from the host side (the API sockets
// live on the shared filesystem, so the CLI needs no namespace).
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { waitFor } from '../helpers/wait-for.js'
import { INTERNET, type Host, type Lab } from './lab.js'
import { startServer } from './traffic.js'
import { Lab as LabClass } from './lab.js'
import { afterEach } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = (name: string): string => join(ROOT, 'dist', name, 'bin.js')

/** A process with its collected output. */
export interface Node {
  child: ChildProcess
  out: () => string
  err: () => string
}

function collect(child: ChildProcess): Node {
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20000)))
  return { child, out: () => out, err: () => err }
}

/** A daemon running in the lab. */
export interface LabDaemon extends Node {
  name: string
  key: string
  socket: string
  host: Host
}

/** Starts brokers and daemons in a lab; removes its temp dir on cleanup (the lab kills processes). */
export class LabNodes {
  private dir = ''

  constructor(private readonly lab: Lab) {}

  /** A temp dir for state and sockets (short path). */
  async init(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'p2pl-'))
  }

  /** Remove the temp dir. */
  async cleanup(): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true })
  }

  /** A broker in the internet namespace on INTERNET.primary:port. */
  async broker(port = 7000, extra: string[] = []): Promise<Node> {
    const n = collect(this.lab.spawn(this.lab.inet, [process.execPath, BIN('broker'), '--listen', `${INTERNET.primary}:${port}`, '--log-level', 'warn', ...extra]))
    await waitFor(() => n.out().includes('listening udp'), { timeoutMs: 10_000, what: `broker ready (${n.err()})` })
    return n
  }

  /** A daemon on `host`, registered with the broker(s) on the internet. */
  async daemon(name: string, host: Host, opts: { brokers?: string[]; extra?: string[] } = {}): Promise<LabDaemon> {
    const socket = join(this.dir, `${name}.sock`)
    const brokers = (opts.brokers ?? [`${INTERNET.primary}:7000`]).flatMap((b) => ['--broker', b])
    const n = collect(this.lab.spawn(host.ns, [process.execPath, BIN('daemon'), '--name', name, ...brokers, '--state-dir', join(this.dir, name), '--api-socket', socket, '--log-level', process.env.P2PD_LAB_LOG ?? 'warn', ...(opts.extra ?? [])]))
    const m = await waitFor(() => {
      if (n.child.exitCode !== null) throw new Error(`p2pd ${name} exited: ${n.err()}`)
      return / key=([0-9a-f]{64}) /.exec(n.out())
    }, { timeoutMs: 10_000, what: `p2pd ${name} ready` })
    const d: LabDaemon = { ...n, name, key: m[1]!, socket, host }
    await waitFor(async () => {
      const s = await this.ctl(d, ['status', '--json'])
      return s.code === 0 && (JSON.parse(s.stdout) as { brokers: { state: string }[] }).brokers.some((b) => b.state === 'registered')
    }, { timeoutMs: 15_000, intervalMs: 100, what: `${name} registered with a broker` })
    return d
  }

  /** One daemon counter (from GET /metrics over its API socket), 0 when never counted. */
  counter(d: { socket: string }, name: string): Promise<number> {
    return new Promise((res, rej) => {
      const req = request({ socketPath: d.socket, path: '/metrics' }, (r) => {
        let body = ''
        r.on('data', (c: Buffer) => (body += c.toString()))
        r.on('end', () => res(Number(new RegExp(`name="${name}"} (\\d+)`).exec(body)?.[1] ?? 0)))
      })
      req.on('error', rej)
      req.end()
    })
  }

  /** Run p2pctl against a lab daemon. */
  ctl(d: { socket: string }, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((res) => {
      const c = spawn(process.execPath, [BIN('ctl'), '--api', d.socket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      c.stdout.on('data', (x: Buffer) => (stdout += x.toString()))
      c.stderr.on('data', (x: Buffer) => (stderr += x.toString()))
      c.on('exit', (code) => res({ code, stdout, stderr }))
    })
  }
}

/**
 * The usual scene: a broker, alice on `a` and bob on `b`, bob's traffic server (test/lab/bin/
 * traffic.mjs) on 9000 exposed to alice, and alice forwarding 9100 to it. `extra`: more p2pd flags.
 */
export async function forwardedPair(lab: Lab, nodes: LabNodes, a: Host, b: Host, opts: { broker?: string[]; extra?: string[] } = {}): Promise<{ alice: LabDaemon; bob: LabDaemon }> {
  await nodes.broker(7000, opts.broker ?? [])
  const alice = await nodes.daemon('alice', a, { extra: opts.extra ?? [] })
  const bob = await nodes.daemon('bob', b, { extra: opts.extra ?? [] })
  await startServer(lab, b, 9000)
  for (const [d, args] of [[bob, ['expose', '9000', '--peer', 'alice']], [alice, ['forward', '9100', '--peer', 'bob', '--to', '9000']]] as const) {
    const r = await nodes.ctl(d, [...args])
    if (r.code !== 0) throw new Error(`${d.name}: p2pctl ${args.join(' ')} failed: ${r.stderr}\nalice: ${alice.err().slice(-1500)}\nbob: ${bob.err().slice(-1500)}`)
  }
  return { alice, bob }
}

/**
 * Call inside a describe: returns a factory for a fresh lab (and its started nodes helper) per
 * test, torn down after each test even when the test or its setup fails.
 */
export function labPerTest(): () => Promise<{ lab: Lab; nodes: LabNodes }> {
  let made: { lab: Lab; nodes: LabNodes } | null = null
  afterEach(async () => {
    await made?.lab.destroy()
    await made?.nodes.cleanup()
    made = null
  })
  return async () => {
    const lab = await LabClass.create()
    const nodes = new LabNodes(lab)
    made = { lab, nodes }
    await nodes.init()
    return made
  }
}
