// Test harness for the real, built p2p-broker: spawn it as a child process (and kill it by PID
// afterwards), and speak its wire protocol from plain node:dgram clients that sign their own
// messages. Needs `npx tsc -p tsconfig.json` first (npm test builds before it runs vitest).
import { spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { fileURLToPath } from 'node:url'
import type { StatsSnapshot } from '../../broker/counters.js'
import type { Health } from '../../broker/broker.js'
import { keyPairFromSeed, type KeyPair } from '../../protocol/identity.js'
import { decodeMessage, encodeSigned, type NatMapping, type WireMessage } from '../../protocol/wire.js'
import { waitFor } from './wait-for.js'

/** The built broker entry point. */
export const BIN = fileURLToPath(new URL('../../dist/broker/bin.js', import.meta.url))

// ---- the broker process -------------------------------------------------------------------

/** A running broker child process and the ports it printed. */
export interface BrokerProcess {
  proc: ChildProcess
  udpPort: number
  httpPort: number
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

const children = new Set<ChildProcess>()
// Last resort if the test worker dies before its afterAll: never leave a broker behind.
process.once('exit', () => {
  for (const proc of children) if (proc.exitCode === null && proc.pid !== undefined) proc.kill('SIGKILL')
})

/** Spawn the broker with `args`; tracked so stopAll() can kill it. */
export function spawnBroker(args: string[], env: NodeJS.ProcessEnv = {}): { proc: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  let out = ''
  let err = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return { proc, stdout: () => out, stderr: () => err, exited }
}

/** Spawn a broker on 127.0.0.1 port 0 (UDP and HTTP) and wait for its listening lines. */
export async function startBroker(extra: string[] = []): Promise<BrokerProcess> {
  const b = spawnBroker(['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--log-level', 'warn', ...extra])
  const lines = await waitFor(() => {
    if (b.proc.exitCode !== null) throw new Error(`broker exited ${b.proc.exitCode}: ${b.stderr()}`)
    const ls = b.stdout().split('\n')
    return ls.some((l) => l.startsWith('listening http ')) ? ls : null
  }, { timeoutMs: 10_000, what: 'broker listening lines' })
  const port = (proto: string): number => {
    const m = new RegExp(`^listening ${proto} 127\\.0\\.0\\.1:(\\d+)$`).exec(lines.find((l) => l.startsWith(`listening ${proto} `)) ?? '')
    if (!m) throw new Error(`no "listening ${proto}" line in ${JSON.stringify(b.stdout())}`)
    return Number(m[1])
  }
  return { ...b, udpPort: port('udp'), httpPort: port('http') }
}

/** SIGKILL every broker still running, by PID, and wait for each to exit. */
export async function stopAll(): Promise<void> {
  for (const proc of children) {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) {
      const gone = new Promise((resolve) => proc.once('exit', resolve))
      process.kill(proc.pid, 'SIGKILL')
      await gone
    }
    children.delete(proc)
  }
}

/** GET a JSON document from the broker's HTTP endpoint. */
export async function getJson<T>(port: number, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: (await res.json()) as T }
}

/** The broker's counters. */
export async function getStats(port: number): Promise<StatsSnapshot> {
  return (await getJson<StatsSnapshot>(port, '/stats')).body
}

/** The broker's health document. */
export async function getHealth(port: number): Promise<Health> {
  return (await getJson<Health>(port, '/health')).body
}

// ---- a wire-protocol client --------------------------------------------------------------

let seedCounter = 0
let reqCounter = 1000
/** A request id unique within this test process. */
export const nextReqId = (): number => ++reqCounter

/** A fresh key pair, distinct per call and per process. */
export function newKey(): KeyPair {
  const seed = new Uint8Array(32)
  seed[0] = 0x42
  new DataView(seed.buffer).setUint32(4, ++seedCounter)
  new DataView(seed.buffer).setUint32(8, process.pid)
  return keyPairFromSeed(seed)
}

/** A random 16-byte request nonce. */
export function randomNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16))
}

/** A datagram a client received, decoded. */
export interface Received {
  msg: WireMessage
  size: number
}

/** A UDP client of the broker with its own key. */
export class Client {
  readonly received: Received[] = []
  readonly raw: Uint8Array[] = []
  private constructor(readonly socket: dgram.Socket, readonly kp: KeyPair, readonly brokerPort: number) {
    socket.on('message', (buf) => {
      this.raw.push(buf)
      try {
        this.received.push({ msg: decodeMessage(buf), size: buf.length })
      } catch {
        // the broker must never send garbage; the assertions below would notice missing replies
      }
    })
  }

  static async open(brokerPort: number, kp: KeyPair = newKey()): Promise<Client> {
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    const c = new Client(socket, kp, brokerPort)
    clients.add(c)
    return c
  }

  get port(): number {
    return this.socket.address().port
  }

  send(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, this.brokerPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
  }

  /** Send and wait for the answer carrying `reqId` (an error or the expected type). */
  async request(bytes: Uint8Array, reqId: number, what: string): Promise<WireMessage> {
    const before = this.received.length
    await this.send(bytes)
    const isAnswer = (m: WireMessage): boolean =>
      m.type === 'introduce' ? m.requester && m.reqId === reqId : (m.type === 'registered' || m.type === 'error' || m.type === 'relayAllocated') && m.reqId === reqId
    return waitFor(() => this.received.slice(before).find((r) => isAnswer(r.msg))?.msg, { timeoutMs: 5000, what })
  }

  registerBytes(name: string, opts: { reqId?: number; timestamp?: number; nonce?: Uint8Array; hosts?: { host: string; port: number }[]; nat?: NatMapping } = {}): Uint8Array {
    const hosts = (opts.hosts ?? [{ host: '10.9.8.7', port: 4242 }]).map((h) => ({ ...h, family: 4 as const }))
    return encodeSigned({
      type: 'register', reqId: opts.reqId ?? nextReqId(), key: this.kp.publicKey, name, timestamp: opts.timestamp ?? Date.now(),
      nonce: opts.nonce ?? randomNonce(), hosts, nat: opts.nat ?? 'unknown', sig: new Uint8Array(64),
    }, this.kp.secretKey)
  }

  connectBytes(target: Uint8Array | string, reqId: number): Uint8Array {
    return encodeSigned({ type: 'connect', reqId, key: this.kp.publicKey, target, timestamp: Date.now(), nonce: randomNonce(), sig: new Uint8Array(64) }, this.kp.secretKey)
  }

  relayRequestBytes(peerKey: Uint8Array, punchNonce: Uint8Array, reqId: number): Uint8Array {
    return encodeSigned({ type: 'relayRequest', reqId, key: this.kp.publicKey, peerKey, punchNonce, timestamp: Date.now(), nonce: randomNonce(), sig: new Uint8Array(64) }, this.kp.secretKey)
  }

  relayBindBytes(punchNonce: Uint8Array, opts: { timestamp?: number } = {}): Uint8Array {
    return encodeSigned({ type: 'relayBind', key: this.kp.publicKey, punchNonce, timestamp: opts.timestamp ?? Date.now(), nonce: randomNonce(), sig: new Uint8Array(64) }, this.kp.secretKey)
  }

  /** Send to any port on 127.0.0.1 (a relay allocation). */
  sendTo(bytes: Uint8Array, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
  }

  async register(name: string, opts: Parameters<Client['registerBytes']>[1] = {}): Promise<WireMessage> {
    const reqId = opts.reqId ?? nextReqId()
    return this.request(this.registerBytes(name, { ...opts, reqId }), reqId, `reply to register ${name || '(anonymous)'}`)
  }

  close(): void {
    this.socket.close()
    clients.delete(this)
  }
}

const clients = new Set<Client>()

/** Close every client socket still open. */
export function closeClients(): void {
  for (const c of [...clients]) c.close()
}

/** The error in `m`, or a throw when `m` is not an error. */
export function errorOf(m: WireMessage): { code: number; message: string } {
  if (m.type !== 'error') throw new Error(`expected an error, got ${m.type}`)
  return m
}
