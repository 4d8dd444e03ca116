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
s.on('message', (m, r) => { seen[r.address] = m.toString(); if (Object.keys(seen).length === targets.length) { console.log(JSON.stringify(seen)); process.exit(0) } })
s.bind(0, () => { for (let i = 0; i < 20; i++) setTimeout(() => { for (const t of targets) s.send('x', 3478, t) }, i * 100) })
setTimeout(() => { console.log(JSON.stringify(seen)); process.exit(1) }, 4000)
`

/** The external address:port `host` is seen from, toward each internet address. */
export async function observedMappings(lab: Lab, host: Host): Promise<Record<string, string>> {
  const refl = lab.spawn(lab.inet, [process.execPath, '-e', REFLECTOR, INTERNET.primary, INTERNET.secondary])
  try {
    await once(refl.stdout!, 'data')
    const out = await lab.exec(host.ns, [process.execPath, '-e', CLIENT, INTERNET.primary, INTERNET.secondary], 10_000)
    return JSON.parse(out) as Record<string, string>
  } finally {
    refl.kill('SIGKILL')
  }
}

/** Classify from two observations: same external port toward both = cone. */
export function classify(m: Record<string, string>): 'cone' | 'symmetric' {
  const ports = new Set(Object.values(m).map((v) => v.split(':')[1]))
  return ports.size === 1 ? 'cone' : 'symmetric'
}
