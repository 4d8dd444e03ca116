// The machine's interface addresses: which ones the daemon announces and punches from (the
// filter), and what each interface is (type, virtual, operstate: from systeminformation).
// Addresses come from os.networkInterfaces(), cheap enough to poll every 2 s and complete
// (systeminformation reports only one address per family per interface); the metadata is
// loaded lazily, on request, because systeminformation spawns tools and costs 10+ MB.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import type { Logger } from '../common/logger.js'
import { InterfaceFilter, type AddressVerdict, type LocalAddress } from './interface-filter.js'
import { requireCjs } from '../protocol/cjs.js'

/** What systeminformation says about one interface. */
export interface InterfaceMeta {
  type: string | null
  virtual: boolean | null
  operstate: string | null
  isDefault: boolean | null
}

/** Loads metadata per interface name. */
export type MetaLoader = () => Promise<Map<string, InterfaceMeta>>

/** A local address with its verdict. */
export type CheckedAddress = LocalAddress & AddressVerdict

/** Metadata from systeminformation (imported on first use). */
export async function systemInformationMeta(): Promise<Map<string, InterfaceMeta>> {
  const si = requireCjs('systeminformation') as typeof import('systeminformation')
  const raw = await si.networkInterfaces()
  const list = Array.isArray(raw) ? raw : [raw]
  const out = new Map<string, InterfaceMeta>()
  for (const i of list) {
    out.set(i.iface, { type: i.type || null, virtual: typeof i.virtual === 'boolean' ? i.virtual : null, operstate: i.operstate || null, isDefault: typeof i.default === 'boolean' ? i.default : null })
  }
  return out
}

const META_MAX_AGE_MS = 5_000

/** The local interface table. */
export class LocalInterfaces {
  private meta = new Map<string, InterfaceMeta>()
  private metaAt = -Infinity
  private loading: Promise<void> | null = null

  constructor(
    private deps: {
      filter: InterfaceFilter
      logger: Logger
      list?: () => NodeJS.Dict<NetworkInterfaceInfo[]>
      loadMeta?: MetaLoader
      now?: () => number
    },
  ) {}

  /** Replace the allow/deny rules (SIGHUP). */
  setFilter(filter: InterfaceFilter): void {
    this.deps = { ...this.deps, filter }
  }

  /** Metadata as last loaded, without loading. */
  cachedMetadata(): Map<string, InterfaceMeta> {
    return this.meta
  }

  /** Every non-internal address, with whether it may be used and why not. */
  addresses(): CheckedAddress[] {
    const out: CheckedAddress[] = []
    for (const [name, addrs] of Object.entries((this.deps.list ?? networkInterfaces)())) {
      for (const a of addrs ?? []) {
        if (a.internal) continue
        const la: LocalAddress = { name, address: a.address, family: a.family === 'IPv4' ? 4 : 6 }
        out.push({ ...la, ...this.deps.filter.verdict(la) })
      }
    }
    return out
  }

  /** Usable addresses of one family. */
  usable(family: 4 | 6): LocalAddress[] {
    return this.addresses().filter((a) => a.usable && a.family === family).map(({ name, address, family: f }) => ({ name, address, family: f }))
  }

  /** Metadata, loaded first when older than 5 s (may stay empty where it cannot be read). */
  async metadata(): Promise<Map<string, InterfaceMeta>> {
    const now = (this.deps.now ?? Date.now)()
    if (now - this.metaAt > META_MAX_AGE_MS) {
      this.loading ??= (this.deps.loadMeta ?? systemInformationMeta)()
        .then((m) => {
          this.meta = m
          this.metaAt = (this.deps.now ?? Date.now)()
        })
        .catch((err: unknown) => this.deps.logger.debug({ err }, 'interface metadata unavailable'))
        .finally(() => {
          this.loading = null
        })
      await this.loading
    }
    return this.meta
  }
}
