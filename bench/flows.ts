// Data-path measurements through a target (p2pd forward or plain DNAT): throughput of one flow,
// small round trips on one connection, and the time to open a new connection.
import type { Host, Lab } from '../test/lab/lab.js'
import { runClient, type Target } from './programs.js'
import { median, summarize, type Summary } from './stats.js'

/** One download's result (client.mjs download). */
export interface Download { bytes: number; ms: number; firstByteMs: number; mbit: number }

/** Download `bytes` from bob's source `runs` times; every run is kept, the median is reported. */
export async function throughput(lab: Lab, host: Host, t: Target, bytes: number, runs: number): Promise<{ median: number; runs: Download[] }> {
  const out: Download[] = []
  for (let i = 0; i < runs; i++) out.push(await runClient<Download>(lab, host, ['download', t.host, t.sourcePort, bytes], 90_000))
  return { median: median(out.map((d) => d.mbit)), runs: out }
}

/**
 * Round trips to each target on one connection apiece, taken in turns of `block` rounds inside one
 * client: drift of the machine's speed during the run weighs on all targets alike.
 */
export async function roundTripsAlternating(lab: Lab, host: Host, targets: Target[], size: number, warmup: number, rounds: number, block = 100): Promise<Summary[]> {
  const [first, ...more] = targets
  if (!first) return []
  const r = await runClient<{ samplesMs: number[][] }>(lab, host, ['alternate', first.host, first.echoPort, size, warmup, rounds, block, ...more.flatMap((t) => [t.host, t.echoPort])], 120_000)
  return r.samplesMs.map(summarize)
}

/** Sequential new connections: connect() to the first echo byte, and connect() alone. */
export async function connectionOpen(lab: Lab, host: Host, t: Target, warmup: number, count: number): Promise<{ open: Summary; connect: Summary }> {
  const r = await runClient<{ openMs: number[]; connectMs: number[] }>(lab, host, ['open', t.host, t.echoPort, warmup, count], 60_000)
  return { open: summarize(r.openMs), connect: summarize(r.connectMs) }
}

/**
 * Head-of-line effects between connections: small round trips on one connection while another
 * connection through the same target downloads `bulkBytes` (through p2pd both share the peer's
 * one TCP path; plain TCP has two kernel connections).
 */
export async function roundTripsUnderLoad(lab: Lab, host: Host, t: Target, size: number, rounds: number, bulkBytes: number): Promise<{ rtt: Summary; bulk: Download }> {
  const bulk = runClient<Download>(lab, host, ['download', t.host, t.sourcePort, bulkBytes], 90_000)
  // Let the bulk flow fill the pipe before measuring.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const r = await runClient<{ samplesMs: number[] }>(lab, host, ['pingpong', t.host, t.echoPort, size, 20, rounds], 60_000)
  return { rtt: summarize(r.samplesMs), bulk: await bulk }
}
