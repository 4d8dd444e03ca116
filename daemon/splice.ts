// Join a local TCP socket and an encrypted peer stream: bytes both ways with backpressure,
// half-close carried across, resets and errors carried across as resets.
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/** Byte counts for one spliced connection. */
export interface SpliceStats { bytesIn: number; bytesOut: number }

/**
 * Pipe `sock` <-> `peer` until both directions end or either side fails. `onClose` runs once.
 * bytesOut counts local -> peer, bytesIn peer -> local.
 */
export function splice(sock: Socket, peer: Duplex, stats: SpliceStats, onClose: (err: Error | null) => void): void {
  let closed = false
  const close = (err: Error | null): void => {
    if (closed) return
    closed = true
    onClose(err)
  }
  sock.on('data', (d: Buffer) => {
    stats.bytesOut += d.length
    if (!peer.write(d)) sock.pause()
  })
  peer.on('drain', () => sock.resume())
  peer.on('data', (d: Buffer) => {
    stats.bytesIn += d.length
    if (!sock.write(d)) peer.pause()
  })
  sock.on('drain', () => peer.resume())

  // Half-close: EOF on one side becomes end() on the other, and the other direction keeps going.
  sock.on('end', () => peer.end())
  peer.on('end', () => {
    if (!sock.destroyed) sock.end()
  })

  sock.on('error', (err) => {
    peer.destroy(err)
    close(err)
  })
  sock.on('close', (hadError) => {
    if (hadError) peer.destroy(new Error('local connection reset'))
    else if (!peer.destroyed) peer.end()
    maybeDone()
  })
  peer.on('error', (err: Error) => {
    // The far side failed or reset: reset ours so the client sees it too, not a clean EOF.
    if (!sock.destroyed) sock.resetAndDestroy()
    close(err)
  })
  peer.on('close', () => {
    if (!sock.destroyed && !sock.writableEnded) sock.resetAndDestroy()
    maybeDone()
  })
  function maybeDone(): void {
    if (sock.destroyed && peer.destroyed) close(null)
  }
}
