// Persistence of the name table (<state-dir>/names.json): names are bound to keys forever, so a
// restart must not free them. Writes are atomic and serialized; bursts coalesce into one write.
import { join } from 'node:path'
import { readJsonFile, writeFileAtomic } from '../common/atomic-file.js'
import type { Logger } from '../common/logger.js'
import { keyFromHex } from '../protocol/identity.js'
import { isValidName } from '../protocol/names.js'

/** On-disk shape of names.json. */
interface NamesFile {
  version: 1
  names: Record<string, string>
}

/** Loads and saves the broker's name -> key table. */
export class NameStore {
  /** Path of names.json. */
  readonly path: string
  private readonly log: Logger
  private pending: Record<string, string> | null = null
  private writing: Promise<void> = Promise.resolve()

  constructor(stateDir: string, log: Logger) {
    this.path = join(stateDir, 'names.json')
    this.log = log
  }

  /** Read the table; empty when the file does not exist. Throws on a corrupt file. */
  async load(): Promise<Array<[string, string]>> {
    const file = await readJsonFile<NamesFile | null>(this.path, null)
    if (file === null) return []
    if (typeof file !== 'object' || file.version !== 1 || typeof file.names !== 'object' || file.names === null) {
      throw new Error(`${this.path} is not a names file (expected {"version":1,"names":{...}}); fix or remove it`)
    }
    const out: Array<[string, string]> = []
    for (const [name, key] of Object.entries(file.names)) {
      // Skip rather than refuse to start: one bad hand edit should not take the broker down.
      if (!isValidName(name) || typeof key !== 'string' || keyFromHex(key) === null) {
        this.log.warn({ name, path: this.path }, 'ignoring invalid entry in names file')
        continue
      }
      out.push([name, key.toLowerCase()])
    }
    return out
  }

  /** Schedule a write of `table`; later calls supersede earlier unwritten ones. */
  save(table: Record<string, string>): Promise<void> {
    const first = this.pending === null
    this.pending = table
    if (first) {
      this.writing = this.writing.then(() => this.flush())
    }
    return this.writing
  }

  /** Wait for every scheduled write. */
  async close(): Promise<void> {
    await this.writing
  }

  private async flush(): Promise<void> {
    const table = this.pending
    this.pending = null
    if (table === null) return
    const body: NamesFile = { version: 1, names: table }
    try {
      await writeFileAtomic(this.path, JSON.stringify(body, null, 2) + '\n')
    } catch (err) {
      // The in-memory table stays authoritative; the next bind retries the write.
      this.log.error({ err, path: this.path }, 'could not save names')
    }
  }
}
