// p2pctl ping PEER [--count N]: round trips over the encrypted peer session.
import type { Command } from 'commander'
import type { PingResult } from '../api-types.js'
import { contextOf, examples, seg } from '../context.js'
import { path as fmtPath, ms } from '../format.js'
import { parseCount, parseSeconds } from '../parse.js'

/** Register `ping`. */
export function register(program: Command): void {
  const cmd = program.command('ping')
    .argument('<peer>', 'peer name or key')
    .option('-c, --count <n>', 'number of pings', '1')
    .option('-i, --interval <seconds>', 'pause between pings', '1')
    .description('measure the round trip to PEER over its session (connects first if needed); --json prints one object per ping')
    .action(async (peer: string, opts: { count: string; interval: string }, self: Command) => {
      const ctx = contextOf(self)
      const count = parseCount(opts.count, '--count')
      const pauseMs = parseSeconds(opts.interval, '--interval')
      const rtts: number[] = []
      for (let i = 0; i < count; i++) {
        if (i > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
        const r = await ctx.client.post<PingResult>(`/v1/peers/${seg(peer)}/ping`)
        rtts.push(r.rttMs)
        if (ctx.json) process.stdout.write(`${JSON.stringify(r)}\n`)
        else ctx.out(`${peer}: rtt ${ms(r.rttMs)} via ${fmtPath(r.path)}`)
      }
      if (!ctx.json && count > 1) {
        const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length
        ctx.out(`${count} pings: min ${ms(Math.min(...rtts))}, avg ${ms(avg)}, max ${ms(Math.max(...rtts))}`)
      }
    })
  examples(cmd, 'p2pctl ping bob', 'p2pctl ping bob --count 5 --interval 0.2')
}
