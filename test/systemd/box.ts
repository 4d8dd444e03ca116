// A throwaway machine for the systemd test: systemd as PID 1 of private PID, mount, network, UTS,
// IPC and cgroup namespaces (box-init.sh makes the host's files untouchable first), driven from
// outside with nsenter. kill() ends everything in it and removes its cgroup.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { access, mkdir, readFile, readdir, rmdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { waitFor } from '../helpers/wait-for.js'

const INIT = resolve(import.meta.dirname, 'box-init.sh')

/** Result of a command run in the box. */
export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Why the box cannot run here, or null. */
export async function boxUnavailableReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, mounts, cgroups)'
  for (const f of ['/lib/systemd/systemd', '/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/systemd-run']) {
    if (!(await exists(f))) return `${f} is missing (apt-get install systemd util-linux)`
  }
  if ((await cgroup2Root()) === null) return 'no cgroup2 hierarchy mounted'
  return null
}

/** A booted box. */
export class Box {
  private constructor(readonly pid1: number, private readonly outer: ChildProcess, private readonly cgroup: string, readonly log: () => string) {}

  /** Boot systemd in a new box with `project` bound read-only at /srv/p2pd; resolves once it runs. */
  static async boot(project: string): Promise<Box> {
    const root = await cgroup2Root()
    if (root === null) throw new Error('no cgroup2 hierarchy')
    const own = (await readFile('/proc/self/cgroup', 'utf8')).split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '/'
    const cgroup = join(root, own, `p2pd-box-${process.pid}-${Date.now()}`)
    await mkdir(cgroup)
    // Join the cgroup first, so the cgroup namespace that unshare makes is rooted there.
    const outer = spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec unshare --fork --pid --mount --net --uts --ipc --cgroup --mount-proc sh ${INIT} ${project}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    outer.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20000)))
    outer.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20000)))
    const pid1 = await waitFor(async () => {
      if (outer.exitCode !== null) throw new Error(`box exited early: ${log}`)
      const kids = await readFile(`/proc/${outer.pid}/task/${outer.pid}/children`, 'utf8').catch(() => '')
      const pid = Number(kids.trim().split(/\s+/)[0])
      if (!pid) return 0
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim()
      return comm === 'systemd' ? pid : 0
    }, { timeoutMs: 15_000, intervalMs: 50, what: 'systemd as PID 1 of the box' })
    const box = new Box(pid1, outer, cgroup, () => log)
    await waitFor(async () => {
      const r = await box.run(['systemctl', 'is-system-running'])
      return ['running', 'degraded'].includes(r.stdout.trim())
    }, { timeoutMs: 30_000, intervalMs: 100, what: `systemd in the box to finish booting (${log})` })
    return box
  }

  /** Run a command inside the box (mount, PID and network namespaces of its PID 1). */
  run(argv: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
    return new Promise((res) => {
      execFile('nsenter', ['-t', String(this.pid1), '-m', '-p', '-n', '--', ...argv], { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 255) : 0
        res({ code, stdout, stderr })
      })
    })
  }

  /** Run and require exit 0; returns stdout. */
  async ok(argv: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(argv, opts)
    if (r.code !== 0) throw new Error(`in the box: ${argv.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`)
    return r.stdout
  }

  /** SIGKILL PID 1 (the kernel then kills everything in the box) and remove the box's cgroup. */
  async kill(): Promise<void> {
    if (this.outer.exitCode === null) {
      const exited = new Promise((r) => this.outer.once('exit', r))
      try {
        process.kill(this.pid1, 'SIGKILL')
      } catch {
        // already gone
      }
      await exited
    }
    await waitFor(async () => (await readFile(join(this.cgroup, 'cgroup.procs'), 'utf8').catch(() => '')).trim() === '' && (await emptyTree(this.cgroup)), { timeoutMs: 10_000, what: 'box processes gone' })
    await removeTree(this.cgroup)
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false)
}

async function cgroup2Root(): Promise<string | null> {
  const mounts = await readFile('/proc/self/mounts', 'utf8')
  const line = mounts.split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')
  return line?.[1] ?? null
}

async function subdirs(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))
}

async function emptyTree(dir: string): Promise<boolean> {
  for (const d of await subdirs(dir)) {
    if ((await readFile(join(d, 'cgroup.procs'), 'utf8').catch(() => '')).trim() !== '' || !(await emptyTree(d))) return false
  }
  return true
}

async function removeTree(dir: string): Promise<void> {
  for (const d of await subdirs(dir)) await removeTree(d)
  await rmdir(dir).catch(() => undefined)
}
