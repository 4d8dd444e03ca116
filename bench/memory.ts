// Daemon memory: RSS of alice's and bob's p2pd idle, and while N forwarded connections are held
// open (each echoed once); the same N connections held over plain TCP for the open-time baseline.
import type { ForwardInfo } from '../daemon/api/types.js'
import { waitFor } from '../test/helpers/wait-for.js'
import type { Lab } from '../test/lab/lab.js'
import { rssKiB, type BenchDaemon } from './nodes.js'
import { hold } from './programs.js'
import type { Topology } from './topology.js'

/** RSS of both daemons, KiB. */
export interface Rss { alice: number; bob: number }

/** Results of the held-connections run. */
export interface HeldMemory {
  count: number
  before: Rss
  held: Rss
  afterClose: Rss
  /** Connections alice's forward reported while held. */
  aliceForwardConnections: number
  /** Wall time to open all N and get every echo, ms. */
  openAllMs: { p2pd: number; plain: number }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** RSS of alice's and bob's daemons now. */
export async function daemonsRss(alice: BenchDaemon, bob: BenchDaemon): Promise<Rss> {
  return { alice: await rssKiB(alice.child.pid!), bob: await rssKiB(bob.child.pid!) }
}

/**
 * How long idle daemons are watched for their settled RSS. V8's memory reducer gives back what
 * start-up and connecting left behind (10-20 MB) about 8 s after a full GC, and again 8 s later
 * when allocation was not low enough at the first look: the lowest RSS within this window is the
 * level an idle daemon sits at, unlike the figure a second after connecting.
 */
export const SETTLE_MS = 20_000

/** The lowest RSS of each daemon, sampled every second for `SETTLE_MS` of idleness. */
export async function settledRss(alice: BenchDaemon, bob: BenchDaemon): Promise<Rss> {
  let low = await daemonsRss(alice, bob)
  for (let t = 0; t < SETTLE_MS; t += 1000) {
    await pause(1000)
    const now = await daemonsRss(alice, bob)
    low = { alice: Math.min(low.alice, now.alice), bob: Math.min(low.bob, now.bob) }
  }
  return low
}

async function forwardConnections(d: BenchDaemon): Promise<number> {
  return (await d.api.get<ForwardInfo[]>('/v1/forwards')).reduce((n, f) => n + f.connections, 0)
}

/** Hold `count` connections through the forward, measure RSS, release; then the plain baseline. */
export async function heldConnections(lab: Lab, topo: Topology, count: number, batch: number): Promise<HeldMemory> {
  const { alice, bob, a } = topo
  const before = await daemonsRss(alice, bob)
  const h = await hold<{ ms: number; opened: number }>(lab, a, [topo.p2pd.host, topo.p2pd.echoPort, count, batch])
  let held: Rss
  let aliceForwardConnections: number
  try {
    await pause(1000)
    aliceForwardConnections = await forwardConnections(alice)
    held = await daemonsRss(alice, bob)
  } finally {
    await h.release()
  }
  await waitFor(async () => (await forwardConnections(alice)) === 0, { timeoutMs: 15_000, intervalMs: 100, what: 'forwarded connections to close' })
  await pause(1000)
  const afterClose = await daemonsRss(alice, bob)
  const p = await hold<{ ms: number }>(lab, a, [topo.plain.host, topo.plain.echoPort, count, batch])
  await p.release()
  return { count, before, held, afterClose, aliceForwardConnections, openAllMs: { p2pd: h.result.ms, plain: p.result.ms } }
}
