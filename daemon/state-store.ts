// The daemon's persistent state: identity seed, pinned peers, forwards and exposes.
// Every write is atomic (temp file, fsync, rename); a restart restores everything.
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile } from 'node:fs/promises'
import { readJsonFile, writeFileAtomic } from '../common/atomic-file.js'
import { keyPairFromSeed, type KeyPair } from '../protocol/identity.js'

/** A name pinned to a key: by the user (`peer add`) or on first contact (TOFU, like known_hosts). */
export interface PinnedPeer { name: string; key: string; origin: 'user' | 'tofu' }
/** A persisted forward. */
export interface StoredForward { id: string; proto: 'tcp' | 'udp'; bindHost: string; port: number; peer: string; toHost: string; toPort: number; idleS?: number; maxFlows?: number }
/** A persisted expose rule; peer is a key, a name, or '*'. */
export interface StoredExpose { id: string; proto: 'tcp' | 'udp'; host: string; port: number; peer: string }

/** Everything in state.json. */
export interface State { version: 1; peers: PinnedPeer[]; forwards: StoredForward[]; exposes: StoredExpose[] }

const EMPTY: State = { version: 1, peers: [], forwards: [], exposes: [] }

/** Reads and writes the state directory. */
export class StateStore {
  private writing: Promise<void> = Promise.resolve()

  constructor(readonly dir: string) {}

  /** Make the directory (0700) if needed. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
  }

  /** Load the identity, creating it (mode 0600) on first start. */
  async identity(): Promise<KeyPair> {
    const path = join(this.dir, 'identity.json')
    const stored = await readJsonFile<{ seed?: string } | null>(path, null)
    if (stored === null) {
      const seed = randomBytes(32)
      await writeFileAtomic(path, JSON.stringify({ seed: seed.toString('hex') }) + '\n', 0o600)
      return keyPairFromSeed(seed)
    }
    if (typeof stored.seed !== 'string' || !/^[0-9a-f]{64}$/.test(stored.seed)) {
      throw new Error(`${path}: "seed" must be 64 hex characters; restore the file from a backup or remove it to make a new identity (peers that pinned the old key will refuse the new one)`)
    }
    await chmod(path, 0o600)
    return keyPairFromSeed(Buffer.from(stored.seed, 'hex'))
  }

  /** The bearer token for the loopback TCP API (128 bits, hex), made on first use, mode 0600. */
  async apiToken(): Promise<string> {
    const path = join(this.dir, 'api-token')
    try {
      const t = (await readFile(path, 'utf8')).trim()
      if (/^[0-9a-f]{32,}$/.test(t)) return t
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    const token = randomBytes(16).toString('hex')
    await writeFileAtomic(path, token + '\n', 0o600)
    return token
  }

  /** Load state.json (empty state when missing). */
  async load(): Promise<State> {
    const s = await readJsonFile<State>(join(this.dir, 'state.json'), EMPTY)
    return { version: 1, peers: s.peers ?? [], forwards: s.forwards ?? [], exposes: s.exposes ?? [] }
  }

  /** Resolves once every save asked for so far is on disk. */
  async flush(): Promise<void> {
    await this.writing.catch(() => {})
  }

  /** Save state.json; writes are serialised so the last one wins. */
  save(state: State): Promise<void> {
    const text = JSON.stringify(state, null, 2) + '\n'
    this.writing = this.writing.catch(() => {}).then(() => writeFileAtomic(join(this.dir, 'state.json'), text, 0o600))
    return this.writing
  }
}
