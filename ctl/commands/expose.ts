// p2pctl expose [HOST:]PORT --peer PEER|--any [--udp]: let a peer reach a local target.
import type { Command } from 'commander'
import type { AddExposeRequest, ExposeInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { UsageError } from '../errors.js'
import { parseHostPort } from '../parse.js'

/** The peer field of an expose rule from --peer/--any, exactly one of which must be given. */
export function exposePeer(opts: { peer?: string; any?: boolean }): string {
  if (opts.peer !== undefined && opts.any) throw new UsageError('give either --peer PEER or --any, not both')
  if (opts.peer === undefined && !opts.any) throw new UsageError('say who may connect: --peer PEER, or --any for every authenticated peer')
  return opts.peer ?? '*'
}

/** Register `expose`. */
export function register(program: Command): void {
  const cmd = program.command('expose')
    .argument('<[host:]port>', 'local target peers may reach (host defaults to localhost)')
    .option('--peer <peer>', 'peer name or key allowed to connect')
    .option('--any', 'allow every authenticated peer')
    .option('--udp', 'allow UDP instead of TCP')
    .description('allow PEER (or any peer) to reach a local host:port through its forwards; everything else is denied')
    .action(async (spec: string, opts: { peer?: string; any?: boolean; udp?: boolean }, self: Command) => {
      const ctx = contextOf(self)
      const target = parseHostPort(spec, '[HOST:]PORT')
      const req: AddExposeRequest = { port: target.port, peer: exposePeer(opts), proto: opts.udp ? 'udp' : 'tcp' }
      if (target.host !== undefined) req.host = target.host
      const e = await ctx.client.post<ExposeInfo>('/v1/exposes', req)
      if (ctx.json) return ctx.printJson(e)
      ctx.out(`exposed ${e.proto} ${e.target} to ${e.peer === '*' ? 'any peer' : e.peer} (id ${e.id})`)
    })
  examples(cmd,
    'p2pctl expose 22 --peer alice                  # alice may: p2pctl forward 2222 --peer bob --to 22',
    'p2pctl expose 192.168.1.1:53 --any --udp')
}
