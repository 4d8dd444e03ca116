// Running commands inside network namespaces the lab made. Every call is bounded in time.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Run a command on the host (outside any namespace); throws with stderr on failure. */
export async function sh(argv: string[], timeoutMs = 10_000): Promise<string> {
  try {
    const { stdout } = await run(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string }
    throw Object.assign(new Error(`${argv.join(' ')}: ${err.stderr?.trim() || err.message}`), { stdout: err.stdout ?? '' })
  }
}

/** Run a command inside namespace `ns`. */
export function nsExec(ns: string, argv: string[], timeoutMs = 10_000): Promise<string> {
  return sh(['ip', 'netns', 'exec', ns, ...argv], timeoutMs)
}

/** Spawn a long-running command inside `ns` (`ip netns exec` execs, so the PID is the program's). */
export function nsSpawn(ns: string, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Why the lab cannot run here, or null when it can. */
export async function labUnavailableReason(): Promise<string | null> {
  if (process.platform !== 'linux') return 'the NAT lab needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'the NAT lab needs root (network namespaces, iptables)'
  for (const tool of ['ip', 'iptables', 'nft', 'conntrack', 'tc']) {
    try {
      await sh(['sh', '-c', `command -v ${tool}`])
    } catch {
      return `the NAT lab needs ${tool} (apt-get install iproute2 iptables nftables conntrack)`
    }
  }
  const probe = `p2l-probe-${process.pid}`
  try {
    await sh(['ip', 'netns', 'add', probe])
    await sh(['ip', 'netns', 'del', probe])
  } catch (e) {
    return `cannot create a network namespace here: ${(e as Error).message}`
  }
  return null
}

/**
 * Why `what` must skip here (the reason is printed), or null when it can run. With
 * P2PD_LAB_REQUIRED=1 (CI) a skip is an error instead. `tools` are extra commands it needs.
 */
export async function labSkipReason(what: string, tools: string[] = []): Promise<string | null> {
  let reason = await labUnavailableReason()
  for (const tool of reason ? [] : tools) {
    const found = await sh(['sh', '-c', `command -v ${tool}`]).then(() => true, () => false)
    if (!found) {
      reason = `${what} needs ${tool}`
      break
    }
  }
  if (reason && process.env.P2PD_LAB_REQUIRED === '1') throw new Error(`P2PD_LAB_REQUIRED=1 but ${what} cannot run: ${reason}`)
  if (reason) console.warn(`skipping ${what}: ${reason}`)
  return reason
}
