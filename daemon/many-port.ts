// Runs one many-port schedule (protocol/birthday.ts) on real timers: the hard side's extra
// sockets, the easy side's probes to random ports. The connector confirms pairs with its
// ordinary punch machine; this only creates the mappings and stops when told.
import type { UDXSocket } from 'udx-native'
import { manyPortStep, startManyPort, type ManyPortAction, type ManyPortConfig, type ManyPortEvent, type ManyPortState } from '../protocol/birthday.js'
import type { Addr } from '../protocol/punch.js'
import type { Logger } from '../common/logger.js'
import type { Endpoint } from './endpoint.js'
import type { Counters } from './counters.js'

/** What a finished run did, for logs and progress. */
export interface ManyPortSummary { role: 'hard' | 'easy'; reason: string; probes: number; sockets: number }

/** One run; stop() ends it, release() closes its sockets but the one a session kept. */
export class ManyPortRun {
  private state: ManyPortState
  private timer: NodeJS.Timeout | null = null
  private readonly sockets: UDXSocket[] = []
  private probes = 0

  constructor(
    private readonly deps: {
      endpoint: Endpoint
      role: 'hard' | 'easy'
      target: Addr
      seed: number
      config: ManyPortConfig
      /** Send one signed probe to `to` from `socket`. */
      probe: (to: Addr, socket: UDXSocket) => void
      onDone: (summary: ManyPortSummary) => void
      logger: Logger
      counters: Counters
    },
  ) {
    this.state = startManyPort(deps.role, deps.target, Date.now(), deps.seed, deps.config)
    deps.counters.inc(`many_port_runs_${deps.role}`)
    this.step({ type: 'tick' })
  }

  /** Whether `socket` is one of this run's extra sockets. */
  owns(socket: UDXSocket): boolean {
    return this.sockets.includes(socket)
  }

  /** Stop probing (a pair is confirmed, or the attempt ended). */
  stop(reason: string): void {
    this.step({ type: 'stop', reason })
  }

  /** Stop, and close every extra socket except `keep` (the one a session now runs on). */
  release(keep: UDXSocket | null): void {
    this.stop('attempt ended')
    for (const s of this.sockets) if (s !== keep) this.deps.endpoint.release(s)
    if (keep && this.owns(keep)) this.deps.endpoint.sizeBuffers(keep)
    this.sockets.length = 0
  }

  private step(event: ManyPortEvent): void {
    const { state, actions } = manyPortStep(this.state, event, Date.now())
    this.state = state
    for (const a of actions) this.act(a)
  }

  private act(a: ManyPortAction): void {
    switch (a.type) {
      case 'open-socket': {
        if (this.sockets.length !== a.index) return
        try {
          this.sockets.push(this.deps.endpoint.openSocket())
        } catch (err) {
          // Out of descriptors or ports: carry on with the mappings we have.
          this.deps.counters.inc('many_port_socket_errors')
          this.deps.logger.debug({ err }, 'could not open an extra socket')
        }
        return
      }
      case 'probe': {
        const via = a.socket === null ? this.deps.endpoint.socket : this.sockets[a.socket]
        if (!via) return
        this.probes++
        this.deps.counters.inc('many_port_probes_sent')
        this.deps.probe(a.to, via)
        return
      }
      case 'wake-at': {
        if (this.timer) clearTimeout(this.timer)
        this.timer = setTimeout(() => this.step({ type: 'tick' }), Math.max(0, a.at - Date.now()))
        this.timer.unref()
        return
      }
      case 'done': {
        if (this.timer) clearTimeout(this.timer)
        this.timer = null
        this.deps.onDone({ role: this.deps.role, reason: a.reason, probes: this.probes, sockets: a.sockets })
        return
      }
      default: {
        const never: never = a
        throw new Error(`unhandled many-port action ${(never as { type: string }).type}`)
      }
    }
  }
}
