// Traffic inside lab namespaces: a server on the target host and a client on the forwarding host,
// each a small node program (the test process itself lives outside the namespaces).
// Every transfer is checked byte for byte by sha256 on both ends.
import { resolve } from 'node:path'
import type { Host, Lab } from './lab.js'
import { waitFor } from '../helpers/wait-for.js'

const TOOL = resolve(import.meta.dirname, 'bin/traffic.mjs')

/** Start the upload/download server on `host`, listening on bind:port (default loopback) in its namespace. */
export async function startServer(lab: Lab, host: Host, port: number, bind = '127.0.0.1'): Promise<void> {
  const p = lab.spawn(host.ns, [process.execPath, TOOL, 'server', String(port), bind])
  let out = ''
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  await waitFor(() => out.includes('ready'), { timeoutMs: 10_000, what: 'traffic server ready' })
}

/** Result of one transfer. */
export interface Transfer { ok: boolean; bytes: number; ms: number; reply?: string; error?: string; maxGapMs?: number }

/** Upload or download `size` bytes through 127.0.0.1:port on `host` (a forward's local end); `marker` marks what the client sends, `gate` pauses an upload half-way until that file exists (bin/traffic.mjs). */
export async function transfer(lab: Lab, host: Host, mode: 'upload' | 'download', port: number, size: number, timeoutMs = 120_000, opts: { marker?: string; gate?: string } = {}): Promise<Transfer> {
  // A failed client still printed its JSON line (with the error) on stdout.
  const vars = [...(opts.marker ? [`TRAFFIC_MARKER=${opts.marker}`] : []), ...(opts.gate ? [`TRAFFIC_GATE=${opts.gate}`] : [])]
  const env = vars.length ? ['env', ...vars] : []
  const out = await lab.exec(host.ns, [...env, process.execPath, TOOL, mode, String(port), String(size)], timeoutMs).catch((e: Error & { stdout?: string }) => e.stdout || e.message)
  const line = out.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(line) as Transfer
  } catch {
    return { ok: false, bytes: 0, ms: 0, error: out.slice(0, 500) }
  }
}
