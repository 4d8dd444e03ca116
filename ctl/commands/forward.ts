// p2pctl forward [BIND:]PORT --peer PEER [--to [HOST:]PORT] [--udp]: listen here, deliver there.
import type { Command } from 'commander'
import type { AddForwardRequest, ForwardInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { parseHostPort } from '../parse.js'

/** Register `forward`. */
export function register(program: Command): void {
  const cmd = program.command('forward')
    .argument('<[bind:]port>', 'local port to listen on, optionally with a bind address (default 127.0.0.1)')
    .requiredOption('--peer <peer>', 'peer name or key to carry the connections to')
    .option('--to <[host:]port>', "target on the peer's side (default localhost and the same port)")
    .option('--udp', 'forward UDP datagrams instead of TCP connections')
    .description("listen on a local port and carry each connection to a host:port on PEER's side (PEER must 'p2pctl expose' it)")
    .action(async (spec: string, opts: { peer: string; to?: string; udp?: boolean }, self: Command) => {
      const ctx = contextOf(self)
      const bind = parseHostPort(spec, '[BIND:]PORT')
      const to = opts.to === undefined ? undefined : parseHostPort(opts.to, '--to')
      // Only what the user said: the daemon owns the defaults.
      const req: AddForwardRequest = { port: bind.port, peer: opts.peer, proto: opts.udp ? 'udp' : 'tcp' }
      if (bind.host !== undefined) req.bindHost = bind.host
      if (to?.host !== undefined) req.toHost = to.host
      if (to !== undefined) req.toPort = to.port
      const f = await ctx.client.post<ForwardInfo>('/v1/forwards', req)
      if (ctx.json) return ctx.printJson(f)
      ctx.out(`forwarding ${f.proto} ${f.bind} -> ${f.peer} ${f.to} (id ${f.id})`)
    })
  examples(cmd,
    'p2pctl forward 8080 --peer bob                 # localhost:8080 here -> localhost:8080 on bob',
    'p2pctl forward 2222 --peer bob --to 22         # then: ssh -p 2222 localhost',
    'p2pctl forward 0.0.0.0:5353 --peer bob --to 192.168.1.1:53 --udp')
}
