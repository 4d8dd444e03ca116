// Broker, daemons and helper programs in the lab for the benchmark. Paths resolve from the repo
// root, found by walking up (this file runs from dist/bench/, its helpers live in bench/bin/).
import { execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ApiClient } from '../ctl/client.js'
import type { StatusInfo } from '../daemon/api/types.js'
import { waitFor } from '../test/helpers/wait-for.js'
import { INTERNET, type Host, type Lab } from '../test/lab/lab.js'
import { launchArgv, launcherOf } from './launcher.js'

function findRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bench', 'bin'))) return d
    if (dirname(d) === d) throw new Error(`cannot find the p2pd repo root above ${from}`)
  }
}

/** The repository root. */
export const ROOT = findRoot(import.meta.dirname)
/** A built entry point (dist/NAME/bin.js). */
export const distBin = (name: 'broker' | 'daemon' | 'ctl'): string => join(ROOT, 'dist', name, 'bin.js')
/** A benchmark helper program (bench/bin/NAME.mjs). */
export const helper = (name: 'client' | 'server' | 'relay'): string => join(ROOT, 'bench', 'bin', `${name}.mjs`)

/** Open-file limit for lab programs: the hard limit we have (raising it may be refused), at most 65536. */
export const NOFILE = ((): number => {
  const hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()
  return hard === 'unlimited' ? 65536 : Math.min(Number(hard), 65536)
})()

/** Run argv with the open-file soft limit raised to NOFILE (prlimit execs: the PID stays the program's). */
export const withFiles = (argv: string[]): string[] => ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, ...argv]

/** Extra node flags for the daemons (P2PD_BENCH_NODE_ARGS, space-separated), e.g. --cpu-prof to see where the time goes; they come after (and override) the #! line's. */
export const DAEMON_NODE_ARGS = (process.env.P2PD_BENCH_NODE_ARGS ?? '').split(' ').filter((x) => x !== '')

/** argv that starts p2pd as its #! line does (bench/launcher.ts), with DAEMON_NODE_ARGS. */
export const daemonArgv = (): string[] => launchArgv(launcherOf(distBin('daemon')), distBin('daemon'), DAEMON_NODE_ARGS)

/** A daemon running in the lab. */
export interface BenchDaemon {
  name: string
  host: Host
  child: ChildProcess
  api: ApiClient
  socket: string
  err: () => string
}

/** Output collected from a lab process. */
export function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20000)))
  return { out: () => out, err: () => err }
}

/** Starts the broker and daemons; owns a temp dir for their state and API sockets. */
export class BenchNodes {
  private dir = ''

  constructor(private readonly lab: Lab) {}

  /** Make the temp dir (short path: it holds Unix sockets). */
  async init(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'p2pb-'))
  }

  /** Remove the temp dir (the lab kills the processes). */
  async cleanup(): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true })
  }

  /** A broker on INTERNET.primary:7000. */
  async broker(): Promise<void> {
    const c = collect(this.lab.spawn(this.lab.inet, [process.execPath, distBin('broker'), '--listen', `${INTERNET.primary}:7000`, '--log-level', 'warn']))
    await waitFor(() => c.out().includes('listening udp'), { timeoutMs: 10_000, what: `broker ready (${c.err()})` })
  }

  /** A daemon on `host`, resolved once registered with the broker. */
  async daemon(name: string, host: Host): Promise<BenchDaemon> {
    const socket = join(this.dir, `${name}.sock`)
    const argv = [...daemonArgv(), '--name', name, '--broker', `${INTERNET.primary}:7000`, '--state-dir', join(this.dir, name), '--api-socket', socket, '--log-level', 'warn']
    const child = this.lab.spawn(host.ns, withFiles(argv))
    const c = collect(child)
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`p2pd ${name} exited: ${c.err()}`)
      return c.out().includes(' key=')
    }, { timeoutMs: 10_000, what: `p2pd ${name} ready` })
    const api = new ApiClient({ kind: 'unix', path: socket })
    await waitFor(async () => (await api.get<StatusInfo>('/v1/status')).brokers.some((b) => b.state === 'registered'), { timeoutMs: 15_000, intervalMs: 20, what: `${name} registered` })
    return { name, host, child, api, socket, err: c.err }
  }

  /** Stop a daemon (SIGTERM, then SIGKILL) and wait for it. */
  async stop(d: BenchDaemon): Promise<void> {
    const c = d.child
    if (c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(t)
  }
}

/** Resident set size of a process in KiB (VmRSS from /proc). */
export async function rssKiB(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1])
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** CPU time (user + system) a process has used so far, ms (clock-tick resolution). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after "(comm)": state is field 3, utime 14 and stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
}
