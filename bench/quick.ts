// node dist/bench/quick.js: the data-path figures only (throughput of one flow, 64 B round trips,
// idle RSS a second after connecting and once settled), p2pd against plain TCP in the same run (round
// trips in turns), in ~45 s. For trying a change; `npm run
// bench` stays the reference. QUICK_RUNS sets the downloads (default 3); daemons stop gracefully
// at the end, so P2PD_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" writes their profiles.
import { Lab } from '../test/lab/lab.js'
import { labUnavailableReason } from '../test/lab/netns.js'
import { roundTripsAlternating, throughput } from './flows.js'
import { SETTLE_MS, daemonsRss, settledRss } from './memory.js'
import { BenchNodes, cpuMs } from './nodes.js'
import { renderTable, type Row } from './report.js'
import { buildTopology, relayFloor } from './topology.js'

const MiB = 1024 * 1024
const RUNS = Number(process.env.QUICK_RUNS ?? 3)

async function main(): Promise<void> {
  const reason = await labUnavailableReason()
  if (reason) throw new Error(`cannot run: ${reason}`)
  const lab = await Lab.create()
  const nodes = new BenchNodes(lab)
  try {
    await nodes.init()
    const topo = await buildTopology(lab, nodes)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const idle = await daemonsRss(topo.alice, topo.bob)
    const settled = await settledRss(topo.alice, topo.bob)
    // QUICK_FLOOR=1: also two bare Node relays on the same path, what any Node tunnel starts from.
    const relay = process.env.QUICK_FLOOR === '1' ? await relayFloor(lab, topo) : null
    const [p2pdRtt, plainRtt, floorRtt] = await roundTripsAlternating(lab, topo.a, [topo.p2pd, topo.plain, ...(relay ? [relay] : [])], 64, 5000, 2000)
    const rtt = { p2pd: p2pdRtt!, plain: plainRtt! }
    const pids = [topo.alice.child.pid!, topo.bob.child.pid!]
    const cpu0 = await Promise.all(pids.map(cpuMs))
    const p2pd = await throughput(lab, topo.a, topo.p2pd, 256 * MiB, RUNS)
    const wall = p2pd.runs.reduce((n, r) => n + r.ms, 0)
    const cpuUsed = (await Promise.all(pids.map(cpuMs))).map((c, i) => c - cpu0[i]!)
    const cpu = cpuUsed.map((c) => (c / wall) * 100)
    // CPU per byte moved barely depends on what else the machine runs: compare changes with it.
    const perGiB = cpuUsed.map((c) => c / ((RUNS * 256) / 1024))
    const plain = await throughput(lab, topo.a, topo.plain, 256 * MiB, RUNS)
    if (relay && floorRtt) {
      const rt = await throughput(lab, topo.a, relay, 256 * MiB, RUNS)
      process.stdout.write(`bare Node relays: ${rt.median.toFixed(0)} Mbit/s (${(rt.median / plain.median).toFixed(2)}x), ping-pong p50 ${floorRtt.p50.toFixed(3)} ms (+${(floorRtt.p50 - rtt.plain.p50).toFixed(3)} ms); p2pd: ${(p2pd.median / rt.median).toFixed(2)}x their throughput, +${(rtt.p2pd.p50 - floorRtt.p50).toFixed(3)} ms over their round trip\n`)
    }
    const rows: Row[] = [
      { metric: `throughput, 256 MiB (median of ${RUNS})`, unit: 'Mbit/s', p2pd: p2pd.median, plain: plain.median, digits: 0 },
      { metric: '64 B ping-pong p50', unit: 'ms', p2pd: rtt.p2pd.p50, plain: rtt.plain.p50, digits: 3 },
      { metric: '64 B ping-pong p99', unit: 'ms', p2pd: rtt.p2pd.p99, plain: rtt.plain.p99, digits: 3 },
      { metric: 'alice RSS idle, 1 s after connect', unit: 'MiB', p2pd: idle.alice / 1024, plain: null, plainNote: '-', digits: 1 },
      { metric: 'bob RSS idle, 1 s after connect', unit: 'MiB', p2pd: idle.bob / 1024, plain: null, plainNote: '-', digits: 1 },
      { metric: `alice RSS idle, settled (lowest in ${SETTLE_MS / 1000} s)`, unit: 'MiB', p2pd: settled.alice / 1024, plain: null, plainNote: '-', digits: 1 },
      { metric: `bob RSS idle, settled (lowest in ${SETTLE_MS / 1000} s)`, unit: 'MiB', p2pd: settled.bob / 1024, plain: null, plainNote: '-', digits: 1 },
    ]
    process.stdout.write(`${topo.path?.proto} path; runs p2pd ${p2pd.runs.map((r) => r.mbit.toFixed(0)).join(' ')}, plain ${plain.runs.map((r) => r.mbit.toFixed(0)).join(' ')} Mbit/s\n`)
    process.stdout.write(`${renderTable(rows)}\n+${(rtt.p2pd.p50 - rtt.plain.p50).toFixed(3)} ms p50; daemon CPU during p2pd downloads: alice ${cpu[0]!.toFixed(0)}%, bob ${cpu[1]!.toFixed(0)}% of one core; CPU ms per GiB: alice ${perGiB[0]!.toFixed(0)}, bob ${perGiB[1]!.toFixed(0)}\n`)
    await Promise.all([nodes.stop(topo.alice), nodes.stop(topo.bob)])
  } finally {
    await lab.destroy()
    await nodes.cleanup()
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`quick: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exit(1)
})
