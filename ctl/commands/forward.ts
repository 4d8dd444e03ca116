// p2pctl forward [BIND:]PORT --peer PEER [--to [HOST:]PORT] [--udp]: listen here, deliver there.
import type { Command } from 'commander'
import type { AddForwardRequest, ForwardInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { parseHostPort } from '../parse.js'
import { UsageError } from '../errors.js'

function positiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${what}: "${text}" is not a positive whole number`)
  return Number(text)
}

/** Register `forward`. */
export function register(program: Command): void {
  const cmd = program.command('forward')
    .argument('<[bind:]port>', 'local port to listen on, optionally with a bind address (default 127.0.0.1)')
    .requiredOption('--peer <peer>', 'peer name or key to carry the connections to')
    .option('--to <[host:]port>', "target on the peer's side (default localhost and the same port)")
    .option('--udp', 'forward UDP datagrams instead of TCP connections')
    .option('--idle <seconds>', 'UDP: close a flow after this many idle seconds (daemon default 60)')
    .option('--max-flows <n>', 'UDP: most concurrent flows, one per local source address:port (daemon default 1024)')
    .description("listen on a local port and carry each connection to a host:port on PEER's side (PEER must 'p2pctl expose' it)")
    .action(async (spec: string, opts: { peer: string; to?: string; udp?: boolean; idle?: string; maxFlows?: string }, self: Command) => {
      const ctx = contextOf(self)
      const bind = parseHostPort(spec, '[BIND:]PORT')
      const to = opts.to === undefined ? undefined : parseHostPort(opts.to, '--to')
      // Only what the user said: the daemon owns the defaults.
      const req: AddForwardRequest = { port: bind.port, peer: opts.peer, proto: opts.udp ? 'udp' : 'tcp' }
      if (bind.host !== undefined) req.bindHost = bind.host
      if (to?.host !== undefined) req.toHost = to.host
      if (to !== undefined) req.toPort = to.port
      if (opts.idle !== undefined || opts.maxFlows !== undefined) {
        if (!opts.udp) throw new UsageError('--idle and --max-flows apply to UDP forwards (add --udp)')
        if (opts.idle !== undefined) req.idleS = positiveInt(opts.idle, '--idle')
        if (opts.maxFlows !== undefined) req.maxFlows = positiveInt(opts.maxFlows, '--max-flows')
      }
      const f = await ctx.client.post<ForwardInfo>('/v1/forwards', req)
      if (ctx.json) return ctx.printJson(f)
      ctx.out(`forwarding ${f.proto} ${f.bind} -> ${f.peer} ${f.to} (id ${f.id})`)
    })
  examples(cmd,
    'p2pctl forward 8080 --peer bob                 # localhost:8080 here -> localhost:8080 on bob',
    'p2pctl forward 2222 --peer bob --to 22         # then: ssh -p 2222 localhost',
    'p2pctl forward 0.0.0.0:5353 --peer bob --to 192.168.1.1:53 --udp',
    'p2pctl forward 27015 --udp --peer bob --idle 120 --max-flows 64')
}
