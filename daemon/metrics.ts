// Prometheus text for GET /metrics (prom-client, one registry per daemon): the daemon's counters,
// punch attempts and outcomes seen on the event stream, gauges of peers, paths, brokers and
// forwards read at scrape time, and prom-client's process metrics (memory, CPU, event loop lag).
import type { DaemonApi, PeerInfo } from './api/types.js'
import { requireCjs } from '../protocol/cjs.js'

const { Counter, Gauge, Registry, collectDefaultMetrics } = requireCjs('prom-client') as typeof import('prom-client')

/** What the metrics are read from. */
export interface MetricsSource {
  api: Pick<DaemonApi, 'peers' | 'forwards' | 'status' | 'subscribe'>
  /** The daemon's monotonic counters by name (Counters.toJSON()). */
  counters: () => Record<string, number>
  /** Punch stages counted since the daemon started (else counted from now on, off the event stream). */
  stages?: Map<string, number>
}


const PEER_STATES: PeerInfo['state'][] = ['idle', 'connecting', 'connected', 'failed']

// Counter names with a reason in them become labelled families:
// udp_dropped_bad_magic -> p2pd_dropped_total{where="udp",reason="bad_magic"}.
const DROPPED = /^(udp|control|probes|path_probes)_dropped_(.+)$/
const REFUSED = /^opens_refused_(.+)$/

/** Prometheus metrics of one daemon. */
export class DaemonMetrics {
  readonly registry = new Registry()
  private readonly stages: Map<string, number>
  private readonly unsubscribe: () => void

  constructor(private readonly src: MetricsSource) {
    this.stages = src.stages ?? new Map()
    this.unsubscribe = src.stages ? () => {} : src.api.subscribe((e) => {
      if (e.type === 'punch') this.stages.set(e.stage, (this.stages.get(e.stage) ?? 0) + 1)
    })
    collectDefaultMetrics({ register: this.registry, prefix: 'p2pd_' })
    this.define()
  }

  /** Content-Type of render()'s output. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** The metrics in Prometheus text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  /** Stop listening to daemon events. */
  close(): void {
    this.unsubscribe()
  }

  private define(): void {
    const r = [this.registry]
    const src = this.src
    const stages = this.stages
    new Counter({
      name: 'p2pd_events_total', help: 'Daemon counters without a family of their own (udp_datagrams_sent, sessions_established, paths_stalled, forward_connections, ...), by name', labelNames: ['name'], registers: r,
      collect() {
        this.reset()
        for (const [name, v] of Object.entries(src.counters())) if (!DROPPED.test(name) && !REFUSED.test(name)) this.inc({ name }, v)
      },
    })
    new Counter({
      name: 'p2pd_dropped_total', help: 'Datagrams, probes or control messages dropped, by where and why', labelNames: ['where', 'reason'], registers: r,
      collect() {
        this.reset()
        for (const [name, v] of Object.entries(src.counters())) {
          const m = DROPPED.exec(name)
          if (m) this.inc({ where: m[1] === 'probes' ? 'probe' : m[1]!, reason: m[2]! }, v)
        }
      },
    })
    new Counter({
      name: 'p2pd_opens_refused_total', help: 'Incoming connection opens refused, by reason', labelNames: ['reason'], registers: r,
      collect() {
        this.reset()
        for (const [name, v] of Object.entries(src.counters())) {
          const m = REFUSED.exec(name)
          if (m) this.inc({ reason: m[1]! }, v)
        }
      },
    })
    new Counter({
      name: 'p2pd_punch_stages_total', help: 'Punch progress seen since start: lookup counts attempts; connected and failed are the outcomes', labelNames: ['stage'], registers: r,
      collect() {
        this.reset()
        for (const s of ['lookup', 'connected', 'failed']) this.inc({ stage: s }, 0)
        for (const [stage, v] of stages) this.inc({ stage }, v)
      },
    })
    new Gauge({
      name: 'p2pd_peers', help: 'Known peers by state', labelNames: ['state'], registers: r,
      collect() {
        this.reset()
        const peers = src.api.peers()
        for (const state of PEER_STATES) this.set({ state }, peers.filter((p) => p.state === state).length)
      },
    })
    new Gauge({
      name: 'p2pd_paths', help: 'Active paths to peers by kind (direct, relay) and protocol (udp, tcp)', labelNames: ['kind', 'proto'], registers: r,
      collect() {
        this.reset()
        for (const kind of ['direct', 'relay']) for (const proto of ['udp', 'tcp']) this.set({ kind, proto }, 0)
        for (const p of src.api.peers()) if (p.path) this.inc({ kind: p.path.kind, proto: p.path.proto })
      },
    })
    new Gauge({
      name: 'p2pd_brokers', help: 'Configured brokers by registration state', labelNames: ['state'], registers: r,
      collect() {
        this.reset()
        const brokers = src.api.status().brokers
        for (const state of ['registering', 'registered', 'unreachable']) this.set({ state }, brokers.filter((b) => b.state === state).length)
      },
    })
    new Gauge({
      name: 'p2pd_forward_connections', help: 'Open connections (TCP) or flows (UDP) per forward', labelNames: ['forward', 'proto', 'bind', 'peer'], registers: r,
      collect() {
        this.reset()
        for (const f of src.api.forwards()) this.set({ forward: f.id, proto: f.proto, bind: f.bind, peer: f.peer }, f.connections)
      },
    })
    new Counter({
      name: 'p2pd_forward_bytes_total', help: 'Bytes through each forward: in = from the peer, out = to the peer (resets when the forward is removed)', labelNames: ['forward', 'direction'], registers: r,
      collect() {
        this.reset()
        for (const f of src.api.forwards()) {
          this.inc({ forward: f.id, direction: 'in' }, f.bytesIn)
          this.inc({ forward: f.id, direction: 'out' }, f.bytesOut)
        }
      },
    })
  }
}
