// p2pctl unforward ID|PORT: stop a forward.
import type { Command } from 'commander'
import { contextOf, examples, seg } from '../context.js'
import { parsePort } from '../parse.js'

/** Register `unforward`. */
export function register(program: Command): void {
  const cmd = program.command('unforward')
    .argument('<id|port>', "forward id as 'p2pctl forwards' shows it, or its local port")
    .description('stop a forward and close its connections')
    .action(async (idOrPort: string, _opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      // A number is a port: check its range here rather than get a puzzling 'unknown forward'.
      if (/^[0-9]+$/.test(idOrPort)) parsePort(idOrPort, 'PORT')
      await ctx.client.del(`/v1/forwards/${seg(idOrPort)}`)
      if (!ctx.json) ctx.out(`stopped forward ${idOrPort}`)
    })
  examples(cmd, 'p2pctl unforward 8080', 'p2pctl unforward f1')
}
