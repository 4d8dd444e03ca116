// Running the helper programs (bench/bin/*.mjs) inside lab namespaces and reading their JSON line.
import type { ChildProcess } from 'node:child_process'
import { waitFor } from '../test/helpers/wait-for.js'
import type { Host, Lab } from '../test/lab/lab.js'
import { collect, helper, withFiles } from './nodes.js'

/** Where a client connects: the forward's local end, or the router's DNAT port. */
export interface Target {
  /** "p2pd", "plain", or "relay" (two bare Node relays, bench/bin/relay.mjs). */
  kind: 'p2pd' | 'plain' | 'relay'
  host: string
  echoPort: number
  sourcePort: number
}

/** Start server.mjs on `host` (echo and source ports on 0.0.0.0). */
export async function startServer(lab: Lab, host: Host, echoPort: number, sourcePort: number): Promise<void> {
  const c = collect(lab.spawn(host.ns, withFiles([process.execPath, helper('server'), String(echoPort), String(sourcePort)])))
  await waitFor(() => c.out().includes('ready'), { timeoutMs: 10_000, what: `bench server ready (${c.err()})` })
}

/** Start relay.mjs on `host`: each [listenPort, targetHost, targetPort] copies bytes to its target. */
export async function startRelay(lab: Lab, host: Host, routes: [number, string, number][]): Promise<void> {
  const c = collect(lab.spawn(host.ns, withFiles([process.execPath, helper('relay'), ...routes.flat().map(String)])))
  await waitFor(() => c.out().includes('ready'), { timeoutMs: 10_000, what: `relay ready (${c.err()})` })
}

function parseLine<T>(text: string): T {
  const line = text.trim().split('\n').pop() ?? ''
  let r: { ok?: boolean; error?: string }
  try {
    r = JSON.parse(line) as { ok?: boolean; error?: string }
  } catch {
    throw new Error(`bench client said: ${text.slice(0, 500)}`)
  }
  if (r.ok !== true) throw new Error(`bench client failed: ${r.error ?? line}`)
  return r as T
}

/** Run client.mjs to completion on `host`; resolves with its JSON result, throws on failure. */
export async function runClient<T>(lab: Lab, host: Host, args: (string | number)[], timeoutMs = 60_000): Promise<T> {
  const out = await lab.exec(host.ns, withFiles([process.execPath, helper('client'), ...args.map(String)]), timeoutMs)
  return parseLine<T>(out)
}

/** A running `client.mjs hold`: its first JSON line, and a way to let the connections go. */
export interface Holding<T> { result: T; child: ChildProcess; release: () => Promise<void> }

/** Start `client.mjs hold` on `host` and wait until it holds every connection (or failed). */
export async function hold<T>(lab: Lab, host: Host, args: (string | number)[], timeoutMs = 60_000): Promise<Holding<T>> {
  const child = lab.spawn(host.ns, withFiles([process.execPath, helper('client'), 'hold', ...args.map(String)]))
  const c = collect(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const release = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  try {
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`hold client exited: ${c.out()} ${c.err()}`)
      return c.out().includes('\n')
    }, { timeoutMs, intervalMs: 20, what: 'hold client to open its connections' })
    return { result: parseLine<T>(c.out()), child, release }
  } catch (e) {
    await release()
    throw e
  }
}
