// p2pctl netcheck: check the network now: broker round trips, what kind of NAT this machine is
// behind (mapping and port allocation), per interface, IPv6 and hairpinning.
import type { Command } from 'commander'
import type { NetcheckInfo } from '../api-types.js'
import { contextOf, examples } from '../context.js'
import * as fmt from '../format.js'

// What each verdict means for reaching peers, in a few words.
const MEANING: Record<NetcheckInfo['nat']['mapping'], string> = {
  'none': 'no NAT: peers reach this machine directly',
  'endpoint-independent': 'easy NAT: one public port for every peer; direct paths to nearly everyone',
  'endpoint-dependent': 'hard NAT: a new public port per peer; direct via many-port probing with easy peers, relayed with hard ones',
  'unknown': 'not known: configure two brokers (or a broker with two --listen addresses) to classify',
}

/** Register `netcheck`. */
export function register(program: Command): void {
  const cmd = program.command('netcheck')
    .description('check the network now: broker round trips, NAT mapping and port allocation, interfaces, IPv6, hairpin')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      const r = await ctx.client.get<NetcheckInfo>('/v1/netcheck')
      if (ctx.json) return ctx.printJson(r)
      ctx.out(fmt.pairs([
        ['nat', `${r.nat.mapping} (${MEANING[r.nat.mapping]})`],
        ['allocation', r.nat.allocation],
        ['public', r.nat.publicAddresses.join(', ') || '-'],
        ['hairpin', r.nat.hairpin],
        ['ipv6', `${r.ipv6.reachable} (${r.ipv6.reason}${r.ipv6.addresses.length ? `: ${r.ipv6.addresses.join(', ')}` : ''})`],
      ]))
      ctx.out('')
      ctx.out(r.brokers.length === 0
        ? 'no brokers configured; add one with --broker HOST:PORT'
        : fmt.table(['BROKER', 'ANSWERED', 'RTT', 'SEES US AT'], r.brokers.map((b) => [b.address, b.reachable ? 'yes' : 'no', fmt.ms(b.rttMs), b.publicAddress ?? '-'])))
      ctx.out('')
      ctx.out(fmt.table(['INTERFACE', 'ADDRESS', 'IN USE', 'NAT', 'ALLOCATION'], r.interfaces.map((i) => [
        i.name, i.address, i.inUse ? 'yes' : 'no', i.mapping ?? (!i.inUse ? '-' : 'not measured (no broker is reached through it)'), i.allocation ?? '-',
      ])))
    })
  examples(cmd, 'p2pctl netcheck', 'p2pctl netcheck --json | jq .nat')
}
