// p2pctl unexpose ID | [HOST:]PORT --peer PEER|--any [--udp]: withdraw an access rule.
import type { Command } from 'commander'
import type { ExposeInfo } from '../api-types.js'
import { contextOf, examples, seg } from '../context.js'
import { ApiError, UsageError } from '../errors.js'
import { joinHostPort, parseHostPort } from '../parse.js'
import { exposePeer } from './expose.js'

// The rules matching a [HOST:]PORT: an exact target when a host is given, otherwise any target
// on that port (the daemon may have spelled the default host its own way).
function matching(rules: ExposeInfo[], spec: string, peer: string, proto: string): ExposeInfo[] {
  const { host, port } = parseHostPort(spec, '[HOST:]PORT')
  return rules.filter((r) => r.peer === peer && r.proto === proto &&
    (host !== undefined ? r.target === joinHostPort(host, port) : r.target.endsWith(`:${port}`)))
}

/** Register `unexpose`. */
export function register(program: Command): void {
  const cmd = program.command('unexpose')
    .argument('<id|[host:]port>', "rule id as 'p2pctl exposes' shows it, or the target together with --peer/--any")
    .option('--peer <peer>', 'the peer the rule is for')
    .option('--any', 'the rule for any peer')
    .option('--udp', 'the UDP rule (default TCP)')
    .description('withdraw an expose rule, by id or by target and peer')
    .action(async (what: string, opts: { peer?: string; any?: boolean; udp?: boolean }, self: Command) => {
      const ctx = contextOf(self)
      if (opts.peer === undefined && !opts.any) {
        if (opts.udp) throw new UsageError('--udp needs a target with --peer PEER or --any')
        await ctx.client.del(`/v1/exposes/${seg(what)}`).catch((err: unknown) => {
          if (err instanceof ApiError && err.code === 'EXPOSE_UNKNOWN' && /^(?:[^:]+:|\[[^\]]+\]:)?[0-9]+$/.test(what)) {
            throw new ApiError(err.status, err.code, err.message, `to remove by target, add --peer PEER or --any: p2pctl unexpose ${what} --peer PEER`)
          }
          throw err
        })
        if (!ctx.json) ctx.out(`removed expose rule ${what}`)
        return
      }
      const peer = exposePeer(opts)
      const proto = opts.udp ? 'udp' : 'tcp'
      const found = matching(await ctx.client.get<ExposeInfo[]>('/v1/exposes'), what, peer, proto)
      const who = peer === '*' ? 'any peer' : peer
      if (found.length === 0) throw new ApiError(404, 'EXPOSE_UNKNOWN', `no ${proto} expose rule for ${what} to ${who}`, 'see p2pctl exposes')
      if (found.length > 1) throw new UsageError(`${what} matches several rules (${found.map((r) => `${r.id} ${r.target}`).join(', ')}); give HOST:PORT or an id`)
      const [rule] = found as [ExposeInfo]
      await ctx.client.del(`/v1/exposes/${seg(rule.id)}`)
      if (!ctx.json) ctx.out(`removed expose rule ${rule.id} (${rule.proto} ${rule.target} to ${who})`)
    })
  examples(cmd, 'p2pctl unexpose e1', 'p2pctl unexpose 22 --peer alice', 'p2pctl unexpose 192.168.1.1:53 --any --udp')
}
