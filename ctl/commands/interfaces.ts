// p2pctl interfaces: local addresses, their UDP endpoints and public mappings.
import type { Command } from 'commander'
import type { InterfaceInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import { interfacesTable } from '../format.js'

/** Register `interfaces`. */
export function register(program: Command): void {
  const cmd = program.command('interfaces')
    .description('list interface addresses: type and state, whether each is announced and punched from (and why not), its UDP endpoint (a socket of its own on an interface off the default route, e.g. a second uplink), its public mapping and the peer paths using it')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const list = await ctx.client.get<InterfaceInfo[]>('/v1/interfaces')
      if (ctx.json) return ctx.printJson(list)
      ctx.out(interfacesTable(list))
    })
  examples(cmd, 'p2pctl interfaces')
}
