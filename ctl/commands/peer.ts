// p2pctl peer add NAME KEY / peer remove NAME: pin or forget a local name for a peer's key.
import type { Command } from 'commander'
import type { PeerInfo } from '../api-types.js'
import { contextOf, examples, seg } from '../context.js'

/** Register `peer add` and `peer remove`. */
export function register(program: Command): void {
  const peer = program.command('peer')
    .description('pin a name to a peer key, or forget one (subcommands: add, remove)')
  examples(peer, 'p2pctl peer add bob 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29', 'p2pctl peer remove bob')

  const add = peer.command('add')
    .argument('<name>', 'local name for the peer, e.g. bob')
    .argument('<key>', "the peer's public key, as 'p2pctl id' prints it on that machine")
    .description('pin NAME to KEY; a later key change for NAME is refused, like ssh known_hosts')
    .action(async (name: string, key: string, _opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const info = await ctx.client.post<PeerInfo>('/v1/peers', { name, key })
      if (ctx.json) return ctx.printJson(info)
      ctx.out(`pinned ${info.name ?? name} to ${info.key}`)
    })
  examples(add, 'p2pctl peer add bob 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29')

  const remove = peer.command('remove')
    .alias('rm')
    .argument('<name>', 'peer name or key')
    .description('forget a pinned peer')
    .action(async (name: string, _opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      await ctx.client.del(`/v1/peers/${seg(name)}`)
      if (!ctx.json) ctx.out(`forgot ${name}`)
    })
  examples(remove, 'p2pctl peer remove bob')
}
