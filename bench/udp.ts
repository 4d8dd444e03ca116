// UDP request/response round trips: through a p2pd UDP forward, and as plain UDP through a DNAT
// port-forward on bob's router, on the same cone/cone path.
import { join } from 'node:path'
import type { Lab } from '../test/lab/lab.js'
import { waitFor } from '../test/helpers/wait-for.js'
import { ROOT } from './nodes.js'
import type { Topology } from './topology.js'

const UDP_TOOL = join(ROOT, 'test/lab/bin/udp.mjs')
const PORTS = { echo: 6000, fwd: 6100, nat: 16000 }

/** p50/p99 of one run of sequential datagram round trips. */
export interface UdpRtt { rounds: number; p50: number; p99: number }

/** Run `rounds` request/response datagrams of 64-1200 bytes each way, p2pd and plain. */
export async function udpRoundTrips(lab: Lab, topo: Topology, rounds: number): Promise<{ p2pd: UdpRtt; plain: UdpRtt }> {
  lab.spawn(topo.b.ns, [process.execPath, UDP_TOOL, 'echo', String(PORTS.echo), '0.0.0.0'])
  await waitFor(async () => (await lab.exec(topo.b.ns, ['ss', '-lun'])).includes(`:${PORTS.echo}`), { timeoutMs: 10_000, what: 'udp echo on bob' })
  const r = topo.bobRouter
  await lab.exec(r.ns, ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', 'wan', '-p', 'udp', '--dport', String(PORTS.nat), '-j', 'DNAT', '--to-destination', `${topo.b.ip}:${PORTS.echo}`])
  await lab.exec(r.ns, ['iptables', '-I', 'FORWARD', '1', '-i', 'wan', '-p', 'udp', '-d', topo.b.ip, '--dport', String(PORTS.echo), '-j', 'ACCEPT'])
  await topo.bob.api.post('/v1/exposes', { port: PORTS.echo, peer: 'alice', proto: 'udp' })
  await topo.alice.api.post('/v1/forwards', { port: PORTS.fwd, peer: 'bob', toPort: PORTS.echo, proto: 'udp' })
  const run = async (port: number, host: string): Promise<UdpRtt> =>
    JSON.parse(await lab.exec(topo.a.ns, [process.execPath, UDP_TOOL, 'rtt', String(port), String(rounds), host], 120_000)) as UdpRtt
  // Warm both paths (flow open, caches), then measure.
  await run(PORTS.fwd, '127.0.0.1')
  await run(PORTS.nat, r.wan)
  return { p2pd: await run(PORTS.fwd, '127.0.0.1'), plain: await run(PORTS.nat, r.wan) }
}
