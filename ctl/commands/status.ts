// p2pctl status: identity, brokers, NAT, interfaces, peers and forwards at a glance.
import type { Command } from 'commander'
import type { StatusInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import * as fmt from '../format.js'

/** Register `status`. */
export function register(program: Command): void {
  const cmd = program.command('status')
    .description("show the daemon's identity, brokers, NAT type, peers and forwards")
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const s = await ctx.client.get<StatusInfo>('/v1/status')
      if (ctx.json) return ctx.printJson(s)
      const alloc = s.nat.allocation === 'unknown' || s.nat.allocation === 'none' ? '' : `, ${s.nat.allocation} ports`
      const nat = s.nat.publicAddresses.length > 0 ? `${s.nat.mapping}${alloc} (public ${s.nat.publicAddresses.join(', ')})` : `${s.nat.mapping}${alloc}`
      ctx.out(fmt.pairs([
        ['name', s.name], ['key', s.key], ['version', s.version], ['uptime', fmt.duration(s.uptimeS)], ['nat', nat],
        ['interfaces', `${s.interfaces.filter((i) => i.inUse).length} in use of ${s.interfaces.length}`],
      ]))
      ctx.out('')
      ctx.out(s.brokers.length === 0
        ? 'no brokers configured; add one with --broker HOST:PORT'
        : fmt.table(['BROKER', 'STATE', 'RTT', 'PUBLIC'], s.brokers.map((b) => [b.address, b.state, fmt.ms(b.rttMs), b.publicAddress ?? '-'])))
      ctx.out('')
      ctx.out(fmt.peersTable(s.peers))
      ctx.out('')
      ctx.out(fmt.forwardsTable(s.forwards))
    })
  examples(cmd, 'p2pctl status', 'p2pctl status --json | jq .nat')
}
