// Minimal typings for the untyped Holepunch-family modules we use.

declare module 'b4a' {
  const b4a: {
    alloc(n: number): Buffer
    from(x: string | Uint8Array | number[], enc?: BufferEncoding): Buffer
    toString(b: Uint8Array, enc?: BufferEncoding): string
    equals(a: Uint8Array, b: Uint8Array): boolean
  }
  export default b4a
}

declare module 'compact-encoding' {
  /** Encoder state: a cursor over a buffer. */
  export interface State { start: number; end: number; buffer: Uint8Array | null }
  /** A compact-encoding codec for values of type T. */
  export interface Encoding<T> {
    preencode(state: State, value: T): void
    encode(state: State, value: T): void
    decode(state: State): T
  }
  export interface IpAddress { host: string; family: 4 | 6; port: number }
  export function state(start?: number, end?: number, buffer?: Uint8Array | null): State
  export function encode<T>(enc: Encoding<T>, value: T): Buffer
  export function decode<T>(enc: Encoding<T>, buf: Uint8Array): T
  export const uint: Encoding<number>
  export const uint8: Encoding<number>
  export const uint16: Encoding<number>
  export const uint32: Encoding<number>
  export const uint64: Encoding<number>
  export const bool: Encoding<boolean>
  export const string: Encoding<string>
  export const utf8: Encoding<string>
  export const buffer: Encoding<Buffer | null>
  export const fixed16: Encoding<Uint8Array>
  export const fixed32: Encoding<Uint8Array>
  export const fixed64: Encoding<Uint8Array>
  export const ipAddress: Encoding<IpAddress>
  export const ipv4Address: Encoding<IpAddress>
  export function array<T>(enc: Encoding<T>): Encoding<T[]>
  export function fixed(n: number): Encoding<Uint8Array>
  const c: {
    state: typeof state; encode: typeof encode; decode: typeof decode
    uint: Encoding<number>; uint8: Encoding<number>; uint16: Encoding<number>; uint32: Encoding<number>; uint64: Encoding<number>
    bool: Encoding<boolean>; string: Encoding<string>; utf8: Encoding<string>; buffer: Encoding<Buffer | null>
    fixed16: Encoding<Uint8Array>; fixed32: Encoding<Uint8Array>; fixed64: Encoding<Uint8Array>
    ipAddress: Encoding<IpAddress>; ipv4Address: Encoding<IpAddress>
    array: typeof array; fixed: typeof fixed
  }
  export default c
}

declare module 'sodium-universal' {
  const sodium: {
    crypto_sign_PUBLICKEYBYTES: number
    crypto_sign_SECRETKEYBYTES: number
    crypto_sign_BYTES: number
    crypto_sign_SEEDBYTES: number
    crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void
    crypto_sign_detached(sig: Uint8Array, msg: Uint8Array, sk: Uint8Array): void
    crypto_sign_verify_detached(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean
    crypto_generichash(out: Uint8Array, input: Uint8Array, key?: Uint8Array): void
    crypto_generichash_batch(out: Uint8Array, inputs: Uint8Array[], key?: Uint8Array): void
    crypto_generichash_BYTES: number
    randombytes_buf(buf: Uint8Array): void
  }
  export default sodium
}

declare module 'noise-curve-ed' {
  const curve: unknown
  export default curve
}

declare module 'noise-handshake' {
  interface KeyPair { publicKey: Uint8Array; secretKey: Uint8Array }
  /** Noise handshake state (XX, IK, ...). */
  class Noise {
    constructor(pattern: string, initiator: boolean, staticKeypair: KeyPair, opts?: { curve?: unknown })
    initialise(prologue: Uint8Array, remoteStatic?: Uint8Array | null): void
    send(payload?: Uint8Array): Uint8Array
    recv(buf: Uint8Array): Uint8Array
    complete: boolean
    tx: Uint8Array
    rx: Uint8Array
    hash: Uint8Array
    rs: Uint8Array
  }
  export default Noise
}

declare module 'udx-native' {
  import { EventEmitter } from 'node:events'
  import { Duplex } from 'node:stream'

  /** A UDX socket: raw datagrams plus the transport for streams. */
  export interface UDXSocket extends EventEmitter {
    bind(port?: number, host?: string): void
    address(): { host: string; family: number; port: number }
    send(buf: Uint8Array, port: number, host: string, ttl?: number): Promise<boolean>
    trySend(buf: Uint8Array, port: number, host: string, ttl?: number): void
    close(): Promise<void>
    setRecvBufferSize(n: number): number
    setSendBufferSize(n: number): number
    readonly bound: boolean
    readonly closing: boolean
    readonly idle: boolean
    on(ev: 'message', fn: (buf: Buffer, rinfo: { host: string; family: number; port: number }) => void): this
    on(ev: 'error', fn: (err: Error) => void): this
    on(ev: 'close' | 'listening' | 'idle' | 'busy', fn: () => void): this
  }

  /** A reliable, ordered UDX stream (a streamx Duplex). */
  export interface UDXStream extends Duplex {
    readonly id: number
    readonly remoteId: number
    readonly remoteHost: string | null
    readonly remotePort: number
    readonly rtt: number
    readonly connected: boolean
    readonly bytesTransmitted: number
    /** Bytes sent and not yet acked. */
    readonly inflight: number
    readonly bytesReceived: number
    socket: UDXSocket | null
    userData: unknown
    connect(socket: UDXSocket, remoteId: number, port: number, host: string, opts?: { ack?: number }): void
    /** Null when the change completed at once (nothing was in flight); throws while a change is pending. */
    changeRemote(socket: UDXSocket, remoteId: number, port: number, host: string): Promise<void> | null
    setKeepalive(ms: number): void
    setInteractive(b: boolean): void
    send(buf: Uint8Array): Promise<boolean>
    trySend(buf: Uint8Array): void
    on(ev: string, fn: (...args: never[]) => void): this
  }

  /** The UDX instance: a factory for sockets and streams. */
  export default class UDX {
    createSocket(opts?: { ipv6Only?: boolean; reuseAddress?: boolean }): UDXSocket
    createStream(id: number, opts?: { firewall?: (socket: UDXSocket, port: number, host: string) => boolean; framed?: boolean; seq?: number }): UDXStream
    networkInterfaces(): Array<{ name: string; host: string; family: number; internal: boolean }>
  }
}

declare module '@hyperswarm/secret-stream' {
  import { Duplex } from 'node:stream'
  /** Pre-computed handshake result, to skip the Noise round trips. */
  export interface Handshake { publicKey: Uint8Array; remotePublicKey: Uint8Array; hash: Uint8Array; tx: Uint8Array; rx: Uint8Array }
  /** Noise-authenticated, AEAD-encrypted duplex over a raw stream. */
  export default class NoiseSecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream: Duplex | null, opts?: { handshake?: Handshake; keyPair?: { publicKey: Uint8Array; secretKey: Uint8Array }; remotePublicKey?: Uint8Array; keepAlive?: number; enableSend?: boolean; data?: Buffer })
    /** A buffer for the next write, encrypted in place (no copy). */
    alloc(len: number): Uint8Array
    readonly publicKey: Uint8Array
    readonly remotePublicKey: Uint8Array
    readonly handshakeHash: Uint8Array
    readonly rawStream: Duplex
    readonly opened: Promise<boolean>
    setKeepAlive(ms: number): void
    setTimeout(ms: number): void
    send(buf: Uint8Array): void
    trySend(buf: Uint8Array): void
    on(ev: string, fn: (...args: never[]) => void): this
  }
}
