// The one Noise IK handshake per peer session, run over the session's control UDX stream (and
// once per kernel TCP path, over the TCP connection).
// We run it ourselves (noise-handshake, as secret-stream does inside) so the session keys are in
// hand for deriving per-connection stream keys (protocol/stream-keys.ts).
import type NoiseT from 'noise-handshake'
import type curveT from 'noise-curve-ed'
import type { Duplex } from 'node:stream'
import type { KeyPair } from '../protocol/identity.js'
import { bytesEqual } from '../protocol/identity.js'
import type { SessionKeys } from '../protocol/stream-keys.js'
import { requireCjs } from '../protocol/cjs.js'

const Noise = requireCjs('noise-handshake') as typeof NoiseT
const curve = requireCjs('noise-curve-ed') as typeof curveT

/** Result of a completed handshake. */
export interface HandshakeResult extends Omit<SessionKeys, 'initiator'> {
  publicKey: Uint8Array
  remotePublicKey: Uint8Array
  /** Bytes that arrived after the last handshake message (the start of the secret stream). */
  leftover: Buffer | null
}

const MAX_FRAME = 1024

/**
 * Run Noise IK over `raw`. The initiator must know the responder's key; the responder checks the
 * initiator's key is `expectedRemote`. `prologue` binds the session to one introduction.
 */
export function runHandshake(opts: {
  raw: Duplex
  initiator: boolean
  keyPair: KeyPair
  expectedRemote: Uint8Array
  prologue: Uint8Array
  timeoutMs: number
}): Promise<HandshakeResult> {
  const { raw, initiator, keyPair, expectedRemote } = opts
  return new Promise((resolve, reject) => {
    const noise = new Noise('IK', initiator, keyPair, { curve })
    noise.initialise(opts.prologue, initiator ? expectedRemote : null)
    let buf: Buffer = Buffer.alloc(0)
    let finished = false
    const timer = setTimeout(() => finish(new Error(`handshake timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs)

    const finish = (err: Error | null, leftover: Buffer | null = null): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      raw.removeListener('data', ondata)
      raw.removeListener('close', onclose)
      raw.removeListener('error', onerror)
      if (err) {
        reject(err)
        return
      }
      // Stop the flow so nothing is lost before the secret stream attaches its own reader.
      raw.pause()
      resolve({
        tx: Buffer.from(noise.tx),
        rx: Buffer.from(noise.rx),
        hash: Buffer.from(noise.hash),
        publicKey: keyPair.publicKey,
        remotePublicKey: Buffer.from(noise.rs),
        leftover,
      })
    }
    const send = (): void => {
      const msg = noise.send()
      const frame = Buffer.alloc(3 + msg.length)
      frame.writeUIntLE(msg.length, 0, 3)
      frame.set(msg, 3)
      raw.write(frame)
    }
    const ondata = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      while (!finished && buf.length >= 3) {
        const len = buf.readUIntLE(0, 3)
        if (len > MAX_FRAME) return finish(new Error('handshake frame too large'))
        if (buf.length < 3 + len) return
        const msg = buf.subarray(3, 3 + len)
        buf = buf.subarray(3 + len)
        try {
          noise.recv(msg)
          if (!noise.complete) send()
        } catch {
          return finish(new Error('Noise handshake failed (wrong key or corrupted message)'))
        }
        if (noise.complete) {
          if (!bytesEqual(noise.rs, expectedRemote)) return finish(new Error('peer authenticated with an unexpected key'))
          return finish(null, buf.length > 0 ? Buffer.from(buf) : null)
        }
      }
    }
    const onclose = (): void => finish(new Error('stream closed during handshake'))
    const onerror = (e: Error): void => finish(e)
    raw.on('data', ondata)
    raw.on('close', onclose)
    raw.on('error', onerror)
    if (initiator) {
      send()
      if (noise.complete) finish(null)
    }
  })
}
