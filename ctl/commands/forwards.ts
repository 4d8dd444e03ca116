// p2pctl forwards: the active forwards with their counters.
import type { Command } from 'commander'
import type { ForwardInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { forwardsTable } from '../format.js'

/** Register `forwards`. */
export function register(program: Command): void {
  const cmd = program.command('forwards')
    .description('list forwards with open connections and bytes in/out')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const list = await ctx.client.get<ForwardInfo[]>('/v1/forwards')
      if (ctx.json) return ctx.printJson(list)
      ctx.out(forwardsTable(list))
    })
  examples(cmd, 'p2pctl forwards')
}
