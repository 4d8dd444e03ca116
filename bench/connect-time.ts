// Time to a direct path: a fresh daemon on alice's host runs `p2pctl connect bob` (there is no
// disconnect verb, so every run gets a new daemon and a new name). The punch events, watched
// from outside on /v1/events, show where the time goes.
import { spawn } from 'node:child_process'
import type { PeerInfo, PunchStage } from '../daemon/api/types.js'
import type { Host } from '../test/lab/lab.js'
import { distBin, type BenchNodes } from './nodes.js'

/** One connect run; times in ms from the moment p2pctl was spawned. */
export interface ConnectRun {
  /** Daemon spawn to registered with the broker. */
  daemonStartMs: number
  /** First time each punch stage was reported. */
  stages: Partial<Record<PunchStage, number>>
  /** The "connected" punch event: the path is up and authenticated. */
  connectedMs: number
  /** p2pctl exited (it waits a little for trailing progress events). */
  cliExitMs: number
  /** Whether p2pctl printed the "connected" progress line (else it waited out its trailing-event grace). */
  cliSawConnected: boolean
  /** alice's peers entry for bob afterwards. */
  path: string
}

const now = (): number => performance.now()

function runCtl(socket: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [distBin('ctl'), '--api', socket, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    c.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** `runs` cold connects from fresh daemons on `host` to bob. */
export async function connectRuns(nodes: BenchNodes, host: Host, runs: number): Promise<ConnectRun[]> {
  const out: ConnectRun[] = []
  for (let i = 1; i <= runs; i++) {
    const t = now()
    const d = await nodes.daemon(`alice-c${i}`, host)
    const daemonStartMs = now() - t
    try {
      const stages: Partial<Record<PunchStage, number>> = {}
      let t0 = 0
      const events = await d.api.openEvents((e) => {
        if (e.type === 'punch' && stages[e.stage] === undefined) stages[e.stage] = now() - t0
      })
      try {
        t0 = now()
        const r = await runCtl(d.socket, ['connect', 'bob'], 30_000)
        const cliExitMs = now() - t0
        if (r.code !== 0) throw new Error(`p2pctl connect bob failed (${r.code}): ${r.stderr.trim()}\n${d.err().slice(-1500)}`)
        const peer = (await d.api.get<PeerInfo[]>('/v1/peers')).find((p) => p.name === 'bob')
        if (peer?.state !== 'connected' || peer.path?.kind !== 'direct') throw new Error(`after connect, bob is ${JSON.stringify(peer)}`)
        if (stages.connected === undefined) throw new Error('no "connected" punch event seen')
        out.push({ daemonStartMs, stages, connectedMs: stages.connected, cliExitMs, cliSawConnected: r.stderr.includes('punch: connected'), path: `${peer.path.kind} ${peer.path.local} -> ${peer.path.remote}` })
      } finally {
        events.close()
      }
    } finally {
      await nodes.stop(d)
    }
  }
  return out
}
