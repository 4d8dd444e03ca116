// p2pctl connect PEER: punch a path now, showing the punch progress as it happens.
import type { Command } from 'commander'
import type { DaemonEvent, PeerInfo } from '../api-types.js'
import { contextOf, examples, seg, type Ctx } from '../context.js'
import { ApiError } from '../errors.js'
import { path as fmtPath, ms } from '../format.js'

/** After the answer, how long to wait for the last progress line to arrive on the other socket. */
const TRAILING_EVENTS_MS = 250

// Punch events name the peer as the daemon knows it, which may be its name or its key:
// learn both before connecting so progress for either spelling is shown.
async function aliasesOf(ctx: Ctx, peer: string): Promise<Set<string>> {
  const names = new Set([peer])
  const known = (await ctx.client.get<PeerInfo[]>('/v1/peers')).find((p) => p.name === peer || p.key === peer)
  if (known) {
    names.add(known.key)
    if (known.name) names.add(known.name)
  }
  return names
}

/** Register `connect`. */
export function register(program: Command): void {
  const cmd = program.command('connect')
    .argument('<peer>', 'peer name or key')
    .description('punch a path to PEER now and print how it went (progress on stderr, the path on stdout)')
    .action(async (peer: string, _opts: unknown, self: Command) => {
      const ctx = contextOf(self)
      let aliases: Set<string> | null = null
      let finished: () => void = () => undefined
      const sawLast = new Promise<void>((resolve) => { finished = resolve })
      const onEvent = (e: DaemonEvent): void => {
        if (e.type !== 'punch' || !aliases?.has(e.peer)) return
        ctx.err(`punch: ${e.stage} ${e.detail}`.trimEnd())
        if (e.stage === 'connected' || e.stage === 'failed') finished()
      }
      // Progress is a nicety: if the event stream cannot be opened, connect without it. The two
      // requests go out together (the connect itself waits for both: no event is missed).
      const opening = ctx.client.openEvents(onEvent).catch(() => null)
      try {
        aliases = await aliasesOf(ctx, peer)
      } catch (err) {
        (await opening)?.close()
        throw err
      }
      const events = await opening
      try {
        const info = await ctx.client.post<PeerInfo>(`/v1/peers/${seg(peer)}/connect`)
        if (events) {
          let timer: NodeJS.Timeout | undefined
          await Promise.race([sawLast, new Promise<void>((resolve) => { timer = setTimeout(resolve, TRAILING_EVENTS_MS) })])
          clearTimeout(timer)
        }
        if (info.state !== 'connected') {
          const why = info.lastError ? `${info.lastError.message} (${info.lastError.code})` : `peer is ${info.state}`
          throw new ApiError(200, info.lastError?.code ?? 'CONNECT_FAILED', `could not connect to ${peer}: ${why}`)
        }
        if (ctx.json) return ctx.printJson(info)
        ctx.out(`connected to ${info.name ?? peer}: ${fmtPath(info.path)}${info.path?.rttMs != null ? `, rtt ${ms(info.path.rttMs)}` : ''}`)
      } finally {
        events?.close()
      }
    })
  examples(cmd, 'p2pctl connect bob')
}
