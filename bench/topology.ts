// The benchmark's network: cone/cone in the NAT lab, a broker on the internet, alice and bob each
// behind a router, bob's servers reached two ways from alice's host: through a p2pd forward, and
// as plain TCP through a DNAT port-forward on bob's router (no tunnel).
import type { ForwardInfo, PeerInfo } from '../daemon/api/types.js'
import type { Host, Lab, Router } from '../test/lab/lab.js'
import { BenchNodes, type BenchDaemon } from './nodes.js'
import { startRelay, startServer, type Target } from './programs.js'
import { waitFor } from '../test/helpers/wait-for.js'

/** bob's server ports, and where each reaches them from alice's host. */
export const PORTS = { echo: 9000, source: 9001, fwdEcho: 9100, fwdSource: 9101, natEcho: 19000, natSource: 19001, relayEcho: 9200, relaySource: 9201 }

/** Everything a measurement needs. */
export interface Topology {
  nodes: BenchNodes
  a: Host
  b: Host
  bobRouter: Router
  alice: BenchDaemon
  bob: BenchDaemon
  p2pd: Target
  plain: Target
  /** alice's view of bob once connected. */
  path: PeerInfo['path']
  /** From the connect request to the kernel TCP path (null: UDP only). */
  tcpPathMs: number | null
}

/** Port-forward `wanPort` on the router's WAN to host:port, accepted ahead of the router's firewall. */
export async function dnat(lab: Lab, r: Router, wanPort: number, host: string, port: number): Promise<void> {
  await lab.exec(r.ns, ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', 'wan', '-p', 'tcp', '--dport', String(wanPort), '-j', 'DNAT', '--to-destination', `${host}:${port}`])
  await lab.exec(r.ns, ['iptables', '-I', 'FORWARD', '1', '-i', 'wan', '-p', 'tcp', '-d', host, '--dport', String(port), '-j', 'ACCEPT'])
}

/** Build the lab network, start everything and connect alice to bob; `nodes` is cleaned up by the caller. */
export async function buildTopology(lab: Lab, nodes: BenchNodes): Promise<Topology> {
  const aRouter = await lab.router('cone')
  const bobRouter = await lab.router('cone')
  const a = await lab.host('alice', aRouter)
  const b = await lab.host('bob', bobRouter)
  await nodes.broker()
  const [alice, bob] = await Promise.all([nodes.daemon('alice', a), nodes.daemon('bob', b)])
  await startServer(lab, b, PORTS.echo, PORTS.source)
  await dnat(lab, bobRouter, PORTS.natEcho, b.ip, PORTS.echo)
  await dnat(lab, bobRouter, PORTS.natSource, b.ip, PORTS.source)
  for (const port of [PORTS.echo, PORTS.source]) await bob.api.post('/v1/exposes', { port, peer: 'alice', proto: 'tcp' })
  const connectAt = performance.now()
  let peer = await alice.api.post<PeerInfo>('/v1/peers/bob/connect')
  if (peer.state !== 'connected' || peer.path?.kind !== 'direct') throw new Error(`alice could not reach bob directly: ${JSON.stringify(peer)}`)
  // The kernel TCP path follows the UDP one within a few seconds (P2PD_TCP=false: UDP only).
  if (process.env.P2PD_TCP !== 'false') {
    peer = await waitFor(async () => {
      const p = (await alice.api.get<PeerInfo[]>('/v1/peers')).find((x) => x.name === 'bob')
      return p?.path?.proto === 'tcp' ? p : null
    }, { timeoutMs: 15_000, intervalMs: 20, what: 'the kernel TCP path to bob' })
  }
  const tcpPathMs = peer.path?.proto === 'tcp' ? performance.now() - connectAt : null
  for (const [port, toPort] of [[PORTS.fwdEcho, PORTS.echo], [PORTS.fwdSource, PORTS.source]] as const) {
    await alice.api.post<ForwardInfo>('/v1/forwards', { port, peer: 'bob', toPort, proto: 'tcp' })
  }
  return {
    nodes, a, b, bobRouter, alice, bob, path: peer.path, tcpPathMs,
    p2pd: { kind: 'p2pd', host: '127.0.0.1', echoPort: PORTS.fwdEcho, sourcePort: PORTS.fwdSource },
    plain: { kind: 'plain', host: bobRouter.wan, echoPort: PORTS.natEcho, sourcePort: PORTS.natSource },
  }
}

/**
 * The floor of a Node tunnel on this path: a bare relay on each host (bench/bin/relay.mjs: no
 * crypto, framing or multiplexing), bob's behind the same DNAT as plain TCP. Clients reach it at
 * the returned target on alice's host.
 */
export async function relayFloor(lab: Lab, topo: Topology): Promise<Target> {
  const wan = (p: number): number => p + 10_000
  await startRelay(lab, topo.b, [[PORTS.relayEcho, '127.0.0.1', PORTS.echo], [PORTS.relaySource, '127.0.0.1', PORTS.source]])
  for (const p of [PORTS.relayEcho, PORTS.relaySource]) await dnat(lab, topo.bobRouter, wan(p), topo.b.ip, p)
  await startRelay(lab, topo.a, [[PORTS.relayEcho, topo.bobRouter.wan, wan(PORTS.relayEcho)], [PORTS.relaySource, topo.bobRouter.wan, wan(PORTS.relaySource)]])
  return { kind: 'relay', host: '127.0.0.1', echoPort: PORTS.relayEcho, sourcePort: PORTS.relaySource }
}
