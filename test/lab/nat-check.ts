// The lab checks its own NATs: a cone router keeps one external port toward two destinations,
// a symmetric one does not. A reflector on both internet addresses reports what it saw.
import { once } from 'node:events'
import type { Lab, Host } from './lab.js'
import { INTERNET } from './lab.js'

const REFLECTOR = `
const dgram = require('node:dgram')
for (const host of process.argv.slice(1)) {
  const s = dgram.createSocket('udp4')
  s.on('message', (m, r) => s.send(r.address + ':' + r.port, r.port, r.address))
  s.bind(3478, host)
}
setTimeout(() => process.exit(0), 15000)
process.stdout.write('ready\\n')
`

const CLIENT = `
const dgram = require('node:dgram')
const s = dgram.createSocket('udp4')
const seen = {}
const targets = process.argv.slice(1)
const done = (code) => { console.log(JSON.stringify({ local: s.address().port, seen })); process.exit(code) }
s.on('message', (m, r) => { seen[r.address] = m.toString(); if (Object.keys(seen).length === targets.length) done(0) })
s.bind(0, () => { for (let i = 0; i < 20; i++) setTimeout(() => { for (const t of targets) s.send('x', 3478, t) }, i * 100) })
setTimeout(() => done(1), 4000)
`

/** What one probe saw: the local source port and, per internet address, the external ip:port. */
export interface Observation { local: number; seen: Record<string, string> }

/** The external address:port `host` is seen from, toward each internet address. */
export async function observedMappings(lab: Lab, host: Host): Promise<Observation> {
  const refl = lab.spawn(lab.inet, [process.execPath, '-e', REFLECTOR, INTERNET.primary, INTERNET.secondary])
  try {
    await once(refl.stdout!, 'data')
    const out = await lab.exec(host.ns, [process.execPath, '-e', CLIENT, INTERNET.primary, INTERNET.secondary], 10_000)
    return JSON.parse(out) as Observation
  } finally {
    refl.kill('SIGKILL')
  }
}

/** Classify from two observations: same external port toward both = cone. */
export function classify(o: Observation): 'cone' | 'symmetric' {
  const ports = new Set(Object.values(o.seen).map((v) => v.split(':')[1]))
  return ports.size === 1 ? 'cone' : 'symmetric'
}
