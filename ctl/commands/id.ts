// p2pctl id: this daemon's name and public key, the id other peers pin.
import type { Command } from 'commander'
import type { IdInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'

/** Register `id`. */
export function register(program: Command): void {
  const cmd = program.command('id')
    .description("print this daemon's name and public key (give the key to peers for 'p2pctl peer add')")
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const id = await ctx.client.get<IdInfo>('/v1/id')
      if (ctx.json) return ctx.printJson(id)
      ctx.out(`${id.name} ${id.key}`)
    })
  examples(cmd, 'p2pctl id', 'p2pctl id --json | jq -r .key')
}
