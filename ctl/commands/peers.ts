// p2pctl peers: known peers, their state and active path.
import type { Command } from 'commander'
import type { PeerInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { peersTable } from '../format.js'

/** Register `peers`. */
export function register(program: Command): void {
  const cmd = program.command('peers')
    .description('list known peers with their state, path and round-trip time')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const list = await ctx.client.get<PeerInfo[]>('/v1/peers')
      if (ctx.json) return ctx.printJson(list)
      ctx.out(peersTable(list))
    })
  examples(cmd, 'p2pctl peers', "p2pctl peers --json | jq -r '.[] | select(.state==\"connected\") | .name'")
}
