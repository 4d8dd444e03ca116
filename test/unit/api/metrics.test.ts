// GET /metrics through inject(): Prometheus text with the daemon's counters folded into labelled
// families, punch stages from the event stream, and gauges read at scrape time.
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../../daemon/api/app.js'
import { DaemonMetrics } from '../../../daemon/metrics.js'
import { FakeDaemonApi } from './fake-daemon-api.js'

let api: FakeDaemonApi
let app: FastifyInstance
let counters: Record<string, number>
let metrics: DaemonMetrics

beforeEach(async () => {
  api = new FakeDaemonApi()
  counters = { udp_datagrams_received: 120, udp_datagrams_sent: 100, udp_dropped_bad_magic: 3, probes_dropped_bad_signature: 2, control_dropped_too_long: 1, opens_refused_not_exposed: 4, sessions_established: 2, forward_connections: 7, paths_stalled: 1 }
  metrics = new DaemonMetrics({ api, counters: () => counters })
  const withMetrics = Object.assign(api, { metrics: async () => ({ contentType: metrics.contentType, text: await metrics.render() }) })
  app = await buildApp({ api: withMetrics, version: 't' })
})
afterEach(async () => {
  metrics.close()
  await app.close()
})

const scrape = async (): Promise<string> => {
  const res = await app.inject({ url: '/metrics' })
  expect(res.statusCode).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return res.body
}

describe('GET /metrics', () => {
  it('folds counters into families with labels', async () => {
    const text = await scrape()
    expect(text).toContain('# TYPE p2pd_events_total counter')
    expect(text).toContain('p2pd_events_total{name="udp_datagrams_received"} 120')
    expect(text).toContain('p2pd_events_total{name="sessions_established"} 2')
    expect(text).toContain('p2pd_events_total{name="forward_connections"} 7')
    expect(text).toContain('p2pd_dropped_total{where="udp",reason="bad_magic"} 3')
    expect(text).toContain('p2pd_dropped_total{where="probe",reason="bad_signature"} 2')
    expect(text).toContain('p2pd_dropped_total{where="control",reason="too_long"} 1')
    expect(text).toContain('p2pd_opens_refused_total{reason="not_exposed"} 4')
    expect(text).not.toContain('name="udp_dropped_bad_magic"')
  })

  it('has gauges of peers by state, paths by kind, brokers and forwards', async () => {
    const text = await scrape()
    expect(text).toContain('p2pd_peers{state="connected"} 1')
    expect(text).toContain('p2pd_peers{state="failed"} 0')
    expect(text).toContain('p2pd_paths{kind="direct",proto="udp"} 1')
    expect(text).toContain('p2pd_paths{kind="relay",proto="udp"} 0')
    expect(text).toContain('p2pd_brokers{state="registered"} 1')
    expect(text).toContain('p2pd_forward_connections{forward="f1",proto="tcp",bind="127.0.0.1:8080",peer="bob"} 2')
    expect(text).toContain('p2pd_forward_bytes_total{forward="f1",direction="in"} 10')
    expect(text).toContain('p2pd_forward_bytes_total{forward="f1",direction="out"} 20')
    expect(text).toMatch(/^p2pd_process_resident_memory_bytes \d+/m)
  })

  it('counts punch stages from the event stream, and reads values at scrape time', async () => {
    expect(await scrape()).toContain('p2pd_punch_stages_total{stage="lookup"} 0')
    api.emit({ type: 'punch', peer: 'bob', stage: 'lookup', detail: '' })
    api.emit({ type: 'punch', peer: 'bob', stage: 'connected', detail: '' })
    api.emit({ type: 'punch', peer: 'carol', stage: 'lookup', detail: '' })
    api.emit({ type: 'punch', peer: 'carol', stage: 'failed', detail: 'timeout' })
    counters.udp_datagrams_sent = 150
    const text = await scrape()
    expect(text).toContain('p2pd_punch_stages_total{stage="lookup"} 2')
    expect(text).toContain('p2pd_punch_stages_total{stage="connected"} 1')
    expect(text).toContain('p2pd_punch_stages_total{stage="failed"} 1')
    expect(text).toContain('p2pd_events_total{name="udp_datagrams_sent"} 150')
  })

  it('answers 404 with a hint when the daemon has no metrics', async () => {
    const bare = await buildApp({ api: new FakeDaemonApi(), version: 't' })
    const res = await bare.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(404)
    expect(res.json().error.hint).toMatch(/status/)
    await bare.close()
  })
})
