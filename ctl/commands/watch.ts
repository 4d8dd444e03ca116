// p2pctl watch: print daemon events as they happen until Ctrl-C.
import type { Command } from 'commander'
import { contextOf, examples } from '../context.js'
import { event as fmtEvent } from '../format.js'

/** Register `watch`. */
export function register(program: Command): void {
  const cmd = program.command('watch')
    .description('print daemon events (peers, punch progress, paths, forwards, connections) as they happen; Ctrl-C stops')
    .action(async (_opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      // Ctrl-C is ours from the start: before the stream is open it just ends the command.
      let stream: Awaited<ReturnType<typeof ctx.client.openEvents>> | null = null
      const stop = (): void => {
        if (stream) stream.close()
        else process.exit(0)
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        stream = await ctx.client.openEvents((e) => {
          if (ctx.json) process.stdout.write(`${JSON.stringify(e)}\n`)
          else ctx.out(`${new Date().toTimeString().slice(0, 8)} ${fmtEvent(e)}`)
        })
        await stream.ended
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    })
  examples(cmd, 'p2pctl watch', "p2pctl watch --json | jq -c 'select(.type==\"punch\")'")
}
