// p2pctl exposes: the access rules.
import type { Command } from 'commander'
import type { ExposeInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { exposesTable } from '../format.js'

/** Register `exposes`. */
export function register(program: Command): void {
  const cmd = program.command('exposes')
    .description('list expose rules: which peer may reach which local target')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const list = await ctx.client.get<ExposeInfo[]>('/v1/exposes')
      if (ctx.json) return ctx.printJson(list)
      ctx.out(exposesTable(list))
    })
  examples(cmd, 'p2pctl exposes')
}
