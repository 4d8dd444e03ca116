// npm run bench: p2pd against plain TCP on the same cone/cone path in the NAT lab (root only).
// Prints a table and writes bench-results/bench-<timestamp>.json and bench-results/latest.json.
import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Lab } from '../test/lab/lab.js'
import { labUnavailableReason } from '../test/lab/netns.js'
import { connectRuns, type ConnectRun } from './connect-time.js'
import { connectionOpen, roundTripsAlternating, roundTripsUnderLoad, throughput } from './flows.js'
import { SETTLE_MS, daemonsRss, heldConnections, settledRss } from './memory.js'
import { BenchNodes, cpuMs, daemonArgv, ROOT } from './nodes.js'
import { renderTable, ratio, type Row } from './report.js'
import { median } from './stats.js'
import { buildTopology, relayFloor } from './topology.js'
import { udpRoundTrips } from './udp.js'

const MiB = 1024 * 1024
/** What is measured, and how much. */
const PLAN = {
  downloadBytes: 256 * MiB, downloadRuns: 3,
  // Warm-up: V8 optimizes the daemon's per-message code only after some thousands of messages;
  // until then its p99 is 3-4x the steady state's (a running daemon is past that).
  pingSize: 64, pingWarmup: 5000, pingRounds: 2000,
  openWarmup: 10, openCount: 200,
  holdCount: 1000, holdBatch: 100,
  connectRuns: 9,
  udpRounds: 10_000,
  loadedRounds: 300, loadedBulkBytes: 1024 * MiB,
}

const now = (): number => performance.now()
const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`)
const kib2mib = (k: number): number => k / 1024

function environment(): { node: string; cpus: number; kernel: string; commit: string; daemonCommand: string } {
  const read = (argv: string[]): string => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: ROOT }).trim()
    } catch {
      return 'unknown'
    }
  }
  // How the daemons were started (the launcher lines' settings and P2PD_BENCH_NODE_ARGS): results taken with other settings are not comparable.
  const daemonCommand = daemonArgv().map((a) => (a === process.execPath ? 'node' : a.startsWith(ROOT) ? a.slice(ROOT.length + 1) : a)).join(' ')
  return { node: process.version, cpus: availableParallelism(), kernel: read(['uname', '-sr']), commit: read(['git', 'rev-parse', '--short', 'HEAD']), daemonCommand }
}

function stageBreakdown(runs: ConnectRun[]): Record<string, number> {
  const order = ['lookup', 'introduced', 'probing', 'path', 'handshake', 'connected'] as const
  const out: Record<string, number> = {}
  let prev = 'spawn'
  for (const s of order) {
    const xs = runs.map((r) => r.stages[s]).filter((x): x is number => x !== undefined)
    if (xs.length === 0) continue
    out[`${prev} -> ${s}`] = median(runs.map((r) => (r.stages[s] ?? NaN) - (prev === 'spawn' ? 0 : r.stages[prev as typeof s] ?? NaN)).filter(Number.isFinite))
    prev = s
  }
  return out
}

async function main(): Promise<void> {
  const reason = await labUnavailableReason()
  if (reason) {
    process.stderr.write(`bench: cannot run: ${reason}\n`)
    process.exit(1)
  }
  const started = now()
  const phases: Record<string, number> = {}
  const phase = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    log(`${name}...`)
    const t = now()
    try {
      return await f()
    } finally {
      phases[name] = Math.round(now() - t)
    }
  }
  const lab = await Lab.create()
  const nodes = new BenchNodes(lab)
  const onSignal = (): void => {
    void lab.destroy().finally(() => nodes.cleanup()).finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await nodes.init()
    const topo = await phase('setup (lab, broker, daemons, connect, forwards, DNAT)', () => buildTopology(lab, nodes))
    const { a } = topo
    const labNofile = (await lab.exec(a.ns, ['sh', '-c', 'ulimit -n'])).trim()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const idle = await daemonsRss(topo.alice, topo.bob)
    const settled = await phase('idle memory, settled', () => settledRss(topo.alice, topo.bob))
    // Memory first, while the heaps have seen nothing but the connect (bulk traffic grows them).
    const mem = await phase(`${PLAN.holdCount} held connections`, () => heldConnections(lab, topo, PLAN.holdCount, PLAN.holdBatch))

    const open = await phase('connection open', async () => ({
      p2pd: await connectionOpen(lab, a, topo.p2pd, PLAN.openWarmup, PLAN.openCount),
      plain: await connectionOpen(lab, a, topo.plain, PLAN.openWarmup, PLAN.openCount),
    }))
    // The floor: two bare Node relays on the same path (no crypto, framing or multiplexing).
    const relay = await phase('bare Node relays (the floor)', () => relayFloor(lab, topo))
    const rtt = await phase('round trips (p2pd, plain and the relays in turns)', async () => {
      const [p2pd, plain, floor] = await roundTripsAlternating(lab, a, [topo.p2pd, topo.plain, relay], PLAN.pingSize, PLAN.pingWarmup, PLAN.pingRounds)
      return { p2pd: p2pd!, plain: plain!, floor: floor! }
    })
    const loaded = await phase('round trips beside a bulk download', async () => ({
      p2pd: await roundTripsUnderLoad(lab, a, topo.p2pd, PLAN.pingSize, PLAN.loadedRounds, PLAN.loadedBulkBytes),
      plain: await roundTripsUnderLoad(lab, a, topo.plain, PLAN.pingSize, PLAN.loadedRounds, PLAN.loadedBulkBytes),
    }))
    const udp = await phase('udp round trips', () => udpRoundTrips(lab, topo, PLAN.udpRounds))
    const pids = { alice: topo.alice.child.pid!, bob: topo.bob.child.pid! }
    const cpu0 = { alice: await cpuMs(pids.alice), bob: await cpuMs(pids.bob) }
    const p2pdTput = await phase('throughput p2pd', () => throughput(lab, a, topo.p2pd, PLAN.downloadBytes, PLAN.downloadRuns))
    const wallMs = p2pdTput.runs.reduce((n, r) => n + r.ms, 0)
    // Share of one core each daemon used while the p2pd downloads ran (where the time goes).
    const downloadCpuPct = { alice: ((await cpuMs(pids.alice)) - cpu0.alice) / wallMs * 100, bob: ((await cpuMs(pids.bob)) - cpu0.bob) / wallMs * 100 }
    const tput = {
      p2pd: p2pdTput,
      plain: await phase('throughput plain', () => throughput(lab, a, topo.plain, PLAN.downloadBytes, PLAN.downloadRuns)),
      floor: await phase('throughput bare Node relays', () => throughput(lab, a, relay, PLAN.downloadBytes, PLAN.downloadRuns)),
    }
    const afterTraffic = await daemonsRss(topo.alice, topo.bob)
    const connects = await phase('time to direct path', () => connectRuns(nodes, a, PLAN.connectRuns))

    const perConn = (who: 'alice' | 'bob'): number => (mem.held[who] - mem.before[who]) / mem.count
    const noProc = 'no process: kernel only'
    const rows: Row[] = [
      { metric: `throughput, one TCP flow, ${PLAN.downloadBytes / MiB} MiB download (median of ${PLAN.downloadRuns})`, unit: 'Mbit/s', p2pd: tput.p2pd.median, plain: tput.plain.median, digits: 0 },
      { metric: `round trip, ${PLAN.pingSize} B ping-pong p50 (${PLAN.pingRounds} rounds)`, unit: 'ms', p2pd: rtt.p2pd.p50, plain: rtt.plain.p50, digits: 3 },
      { metric: `round trip, ${PLAN.pingSize} B ping-pong p99`, unit: 'ms', p2pd: rtt.p2pd.p99, plain: rtt.plain.p99, digits: 3 },
      { metric: 'floor: throughput through two bare Node relays (no crypto), in the p2pd column', unit: 'Mbit/s', p2pd: tput.floor.median, plain: tput.plain.median, digits: 0 },
      { metric: `floor: ${PLAN.pingSize} B ping-pong p50 through two bare Node relays, in the p2pd column`, unit: 'ms', p2pd: rtt.floor.p50, plain: rtt.plain.p50, digits: 3 },
      { metric: `round trip p50 while another connection downloads (head-of-line, ${PLAN.loadedRounds} rounds)`, unit: 'ms', p2pd: loaded.p2pd.rtt.p50, plain: loaded.plain.rtt.p50, digits: 3 },
      { metric: 'round trip p99 while another connection downloads', unit: 'ms', p2pd: loaded.p2pd.rtt.p99, plain: loaded.plain.rtt.p99, digits: 3 },
      { metric: `UDP request/response, 64-1200 B, p50 (${PLAN.udpRounds} rounds)`, unit: 'ms', p2pd: udp.p2pd.p50, plain: udp.plain.p50, digits: 3 },
      { metric: 'UDP request/response, 64-1200 B, p99', unit: 'ms', p2pd: udp.p2pd.p99, plain: udp.plain.p99, digits: 3 },
      { metric: `new connection: connect() to first echo byte, median of ${PLAN.openCount}`, unit: 'ms', p2pd: open.p2pd.open.p50, plain: open.plain.open.p50, digits: 3 },
      { metric: 'new connection: connect() to first echo byte, p99', unit: 'ms', p2pd: open.p2pd.open.p99, plain: open.plain.open.p99, digits: 3 },
      { metric: `time to direct path: p2pctl connect spawn -> connected, median of ${connects.length}`, unit: 'ms', p2pd: median(connects.map((c) => c.connectedMs)), plain: open.plain.connect.p50, plainNote: 'TCP connect() only', digits: 1 },
      { metric: 'time to direct path: p2pctl connect exit, median', unit: 'ms', p2pd: median(connects.map((c) => c.cliExitMs)), plain: null, plainNote: 'n/a', digits: 1 },
      { metric: 'time to the kernel TCP path: connect request -> peers shows tcp (one run)', unit: 'ms', p2pd: topo.tcpPathMs, plain: null, plainNote: 'n/a', digits: 1 },
      { metric: `open ${mem.count} concurrent connections + one echo each`, unit: 'ms', p2pd: mem.openAllMs.p2pd, plain: mem.openAllMs.plain, digits: 0 },
      { metric: 'alice p2pd RSS, idle after connect', unit: 'MiB', p2pd: kib2mib(idle.alice), plain: null, plainNote: noProc, digits: 1 },
      { metric: 'bob p2pd RSS, idle after connect', unit: 'MiB', p2pd: kib2mib(idle.bob), plain: null, plainNote: noProc, digits: 1 },
      { metric: `alice p2pd RSS, idle, settled (lowest in ${SETTLE_MS / 1000} s)`, unit: 'MiB', p2pd: kib2mib(settled.alice), plain: null, plainNote: noProc, digits: 1 },
      { metric: `bob p2pd RSS, idle, settled (lowest in ${SETTLE_MS / 1000} s)`, unit: 'MiB', p2pd: kib2mib(settled.bob), plain: null, plainNote: noProc, digits: 1 },
      { metric: `alice p2pd RSS, ${mem.count} open forwarded connections`, unit: 'MiB', p2pd: kib2mib(mem.held.alice), plain: null, plainNote: noProc, digits: 1 },
      { metric: `bob p2pd RSS, ${mem.count} open forwarded connections`, unit: 'MiB', p2pd: kib2mib(mem.held.bob), plain: null, plainNote: noProc, digits: 1 },
      { metric: 'RSS per open connection, alice + bob', unit: 'KiB', p2pd: perConn('alice') + perConn('bob'), plain: null, plainNote: noProc, digits: 1 },
    ]
    const connectBreakdown = stageBreakdown(connects)
    const result = {
      at: new Date().toISOString(),
      environment: { ...environment(), labUlimitNofile: labNofile, topology: 'cone/cone', path: topo.path },
      plan: PLAN,
      rows: rows.map((r) => ({ ...r, ratio: ratio(r) })),
      details: {
        throughput: { ...tput, p2pdDaemonCpuPctOfOneCore: downloadCpuPct }, roundTrips: rtt, roundTripsBesideBulk: loaded, udpRoundTrips: udp, connectionOpen: open,
        connect: { runs: connects, medianStageDeltasMs: connectBreakdown },
        rssKiB: { idleAfterConnect: idle, idleSettled: settled, afterTraffic, ...mem },
        phasesMs: phases,
        totalMs: Math.round(now() - started),
      },
    }
    const dir = join(ROOT, 'bench-results')
    await mkdir(dir, { recursive: true })
    const file = join(dir, `bench-${result.at.replace(/[:.]/g, '-')}.json`)
    const json = `${JSON.stringify(result, null, 2)}\n`
    await writeFile(file, json)
    await writeFile(join(dir, 'latest.json'), json)

    process.stdout.write(`\np2pd benchmark, cone/cone NAT lab, ${topo.path?.proto} path ${topo.path?.local} -> ${topo.path?.remote} (${result.environment.cpus} CPUs, node ${process.version})\ndaemons: ${result.environment.daemonCommand}\n\n`)
    process.stdout.write(`${renderTable(rows)}\n\n`)
    process.stdout.write(`against the floor (two bare Node relays, no crypto): throughput ${(tput.p2pd.median / tput.floor.median).toFixed(2)}x of theirs, round trip p50 ${rtt.p2pd.p50 - rtt.floor.p50 >= 0 ? '+' : ''}${(rtt.p2pd.p50 - rtt.floor.p50).toFixed(3)} ms over theirs\n`)
    process.stdout.write(`time to direct path, median per stage (ms): ${Object.entries(connectBreakdown).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}\n`)
    process.stdout.write(`during the p2pd downloads: alice's p2pd used ${downloadCpuPct.alice.toFixed(0)}% and bob's ${downloadCpuPct.bob.toFixed(0)}% of one core (${result.environment.cpus} CPUs shared with client, server and kernel)\n`)
    process.stdout.write(`daemon start to registered, median: ${median(connects.map((c) => c.daemonStartMs)).toFixed(0)} ms; phases (ms): ${Object.entries(phases).map(([k, v]) => `${k} ${v}`).join(', ')}\n`)
    process.stdout.write(`wrote ${file} (and latest.json), total ${(result.details.totalMs / 1000).toFixed(1)} s\n`)
  } finally {
    await lab.destroy()
    await nodes.cleanup()
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exit(1)
})
