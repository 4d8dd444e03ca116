// node dist/bench/datapath.js: the forward's data path alone, on loopback, no lab and no root:
// a client -> "alice" (forward listener, splice, Mux) -> secret-stream over one kernel TCP
// carrier -> "bob" (Mux, splice, dial) -> bench/bin/server.mjs, each daemon half its own process.
// Reports throughput and 64 B round trips next to plain loopback TCP, and the CPU each half
// spends per GiB (steadier than throughput on a shared machine). The halves run with p2pd's node
// settings (its launcher lines, bench/launcher.ts); DATAPATH_NODE_ARGS come after them, e.g. for
// profiling: DATAPATH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" (the halves exit cleanly).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { connect, createServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import UDX from 'udx-native'
import { createLogger } from '../common/logger.js'
import { Counters } from '../daemon/counters.js'
import { splice } from '../daemon/splice.js'
import { Mux, type Carrier } from '../daemon/tcp/mux.js'
import { launchArgv, launcherOf } from './launcher.js'
import { collect, cpuMs, distBin, helper } from './nodes.js'
import { median } from './stats.js'

const MiB = 1024 * 1024
const PORTS = { echo: 29000, source: 29001, carrier: 29002, fwdEcho: 29100, fwdSource: 29101 }
const BYTES = Number(process.env.DATAPATH_MIB ?? 256) * MiB
const RUNS = Number(process.env.DATAPATH_RUNS ?? 3)
const logger = createLogger({ name: 'datapath', level: 'silent' })
const tcpInfo = { proto: 'tcp' as const, local: null, remote: null }
const udpInfo = { proto: 'udp' as const, local: null, remote: null }

function ready(): void {
  process.stdout.write('ready\n')
  process.once('SIGTERM', () => process.exit(0))
}

// DATAPATH_CARRIER=udx: the carrier is one UDX stream (the UDP path) instead of kernel TCP.
const UDX_CARRIER = process.env.DATAPATH_CARRIER === 'udx'

// A UDX stream between the two halves: bob is stream 2 on PORTS.carrier, alice stream 1 on the next port.
function udxCarrier(initiator: boolean): { raw: Duplex; stats: () => string } {
  const udx = new UDX()
  const socket = udx.createSocket()
  socket.bind(PORTS.carrier + (initiator ? 1 : 0), '127.0.0.1')
  socket.setRecvBufferSize(4 * MiB)
  socket.setSendBufferSize(4 * MiB)
  const raw = udx.createStream(initiator ? 1 : 2)
  raw.connect(socket, initiator ? 2 : 1, PORTS.carrier + (initiator ? 0 : 1), '127.0.0.1')
  // udx-native's congestion figures (getters our type declarations leave out).
  const st = raw as unknown as Record<string, number>
  const names = ['mtu', 'rtt', 'cwnd', 'inflight', 'retransmits', 'rtoCount', 'fastRecoveries', 'packetsTransmitted', 'packetsReceived']
  return { raw, stats: () => names.map((n) => `${n} ${st[n]}`).join(' ') }
}

// bob: accepts the carrier, dials the server for every open.
function bob(): void {
  const mux = new Mux({
    initiator: false, logger, counters: new Counters(),
    onOpen: async (req) => {
      const sock = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: req.port, noDelay: true, allowHalfOpen: true })
        s.once('error', reject)
        s.once('connect', () => resolve(s))
      })
      sock.on('error', () => {})
      return { ok: true, attach: (stream) => splice(sock, stream, { bytesIn: 0, bytesOut: 0 }, () => {}) }
    },
  })
  if (UDX_CARRIER) {
    const { raw, stats } = udxCarrier(false)
    const carrier = new NoiseSecretStream(false, raw)
    carrier.on('error', () => {})
    mux.attach(carrier as unknown as Carrier, udpInfo)
    process.once('exit', () => process.stderr.write(`bob's UDX stream: ${stats()}\n`))
    ready()
    return
  }
  createServer({ noDelay: true }, (raw) => {
    const carrier = new NoiseSecretStream(false, raw)
    carrier.on('error', () => {})
    mux.attach(carrier as unknown as Carrier, tcpInfo)
  }).listen(PORTS.carrier, '127.0.0.1', ready)
}

// alice: dials the carrier; forward listeners open a stream each connection.
function alice(): void {
  const mux = new Mux({ initiator: true, logger, counters: new Counters(), onOpen: () => Promise.reject(new Error('alice exposes nothing')) })
  const udx = UDX_CARRIER ? udxCarrier(true) : null
  // alice receives the downloads: the packets her UDX stream sends are its acknowledgements.
  if (udx) process.once('exit', () => process.stderr.write(`alice's UDX stream: ${udx.stats()}\n`))
  const raw = udx ? udx.raw : connect({ host: '127.0.0.1', port: PORTS.carrier, noDelay: true })
  const carrier = new NoiseSecretStream(true, raw)
  carrier.on('error', () => {})
  carrier.once('open', () => {
    mux.attach(carrier as unknown as Carrier, UDX_CARRIER ? udpInfo : tcpInfo)
    let listening = 0
    for (const [port, to] of [[PORTS.fwdEcho, PORTS.echo], [PORTS.fwdSource, PORTS.source]] as const) {
      createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (sock) => {
        sock.on('error', () => {})
        mux.open('localhost', to).then((stream) => {
          splice(sock, stream, { bytesIn: 0, bytesOut: 0 }, () => {})
          sock.resume()
        }, () => sock.destroy())
      }).listen(port, '127.0.0.1', () => {
        if (++listening === 2) ready()
      })
    }
  })
}

async function start(argv: string[]): Promise<ChildProcess> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  const c = collect(child)
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (c.out().includes('ready')) resolve()
      else if (child.exitCode !== null) reject(new Error(`${argv.join(' ')} exited: ${c.err()}`))
      else return
      clearInterval(t)
    }, 20)
  })
  return child
}

function client<T>(args: (string | number)[]): T {
  const out = execFileSync(process.execPath, [helper('client'), ...args.map(String)], { encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').pop()!) as T
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return
  const exited = new Promise((resolve) => c.once('exit', resolve))
  c.kill('SIGTERM')
  await exited
}

async function main(): Promise<void> {
  const self = process.argv[1]!
  const extra = (process.env.DATAPATH_NODE_ARGS ?? '').split(' ').filter((x) => x !== '')
  const procs: ChildProcess[] = []
  try {
    procs.push(await start([process.execPath, helper('server'), String(PORTS.echo), String(PORTS.source)]))
    // The halves run with p2pd's own node settings (its launcher lines).
    const half = (role: string): string[] => [...launchArgv(launcherOf(distBin('daemon')), self, extra), role]
    const b = await start(half('bob'))
    procs.push(b)
    const a = await start(half('alice'))
    procs.push(a)
    type Dl = { mbit: number }
    type Pp = { samplesMs: number[] }
    const rtt = (port: number): number => median(client<Pp>(['pingpong', '127.0.0.1', port, 64, 200, 2000]).samplesMs)
    const rttP2pd = rtt(PORTS.fwdEcho)
    const rttPlain = rtt(PORTS.echo)
    const cpu0 = await Promise.all([cpuMs(a.pid!), cpuMs(b.pid!)])
    const p2pd = Array.from({ length: RUNS }, () => client<Dl>(['download', '127.0.0.1', PORTS.fwdSource, BYTES]).mbit)
    const cpu = (await Promise.all([cpuMs(a.pid!), cpuMs(b.pid!)])).map((c, i) => (c - cpu0[i]!) / ((RUNS * BYTES) / 1024 / MiB))
    const plain = Array.from({ length: RUNS }, () => client<Dl>(['download', '127.0.0.1', PORTS.source, BYTES]).mbit)
    const r = (x: number): string => x.toFixed(0)
    process.stdout.write(`throughput Mbit/s: p2pd ${p2pd.map(r).join(' ')} (median ${r(median(p2pd))}), plain ${plain.map(r).join(' ')} (median ${r(median(plain))}), ratio ${(median(p2pd) / median(plain)).toFixed(2)}\n`)
    process.stdout.write(`64 B round trip p50 ms: p2pd ${rttP2pd.toFixed(3)}, plain ${rttPlain.toFixed(3)}, added ${(rttP2pd - rttPlain).toFixed(3)}\n`)
    process.stdout.write(`CPU ms per GiB: alice (receives) ${r(cpu[0]!)}, bob (sends) ${r(cpu[1]!)}, both ${r(cpu[0]! + cpu[1]!)}\n`)
  } finally {
    for (const p of procs.reverse()) await stop(p)
  }
}

const role = process.argv[2]
if (role === 'bob') bob()
else if (role === 'alice') alice()
else {
  main().catch((e: unknown) => {
    process.stderr.write(`datapath: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
    process.exit(1)
  })
}
