// When the initiator looks for a kernel TCP path: with none, and with one of a worse class than
// the UDP path (the session moved to a LAN while its TCP path runs through the NATs); not when
// the TCP path is as good. A fake session and endpoint stand in: only the offer is observed.
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { TcpPaths, type TcpSessionHost } from '../../../daemon/tcp/path.js'
import type { TcpEndpoint } from '../../../daemon/tcp/endpoint.js'
import { Counters } from '../../../daemon/counters.js'
import { createLogger } from '../../../common/logger.js'
import { keyPairFromSeed } from '../../../protocol/identity.js'
import type { Addr } from '../../../protocol/punch.js'
import { waitFor } from '../../helpers/wait-for.js'

const endpoint = { onInbound: () => {}, reflect: async () => null, listenCandidates: () => [], punchCandidates6: () => [], canPunch: false } as unknown as TcpEndpoint

function session(remote: Addr, tcpRemote: Addr | null): TcpSessionHost & { offers: number } {
  const s = Object.assign(new EventEmitter(), {
    initiator: true, remoteKey: new Uint8Array(32), sessionHash: new Uint8Array(32), alive: true, onTcp: tcpRemote !== null, remote, tcpRemote, offers: 0,
    sendControl(msg: { type: string }) {
      if (msg.type === 'tcpOffer') s.offers++
    },
    attachTcp() {},
  })
  return s
}

describe('TCP path management', () => {
  const paths = new TcpPaths({ endpoint, keyPair: keyPairFromSeed(new Uint8Array(32).fill(7)), brokers: () => [], allowPath: async () => true, logger: createLogger({ name: 't', level: 'silent' }), counters: new Counters() })
  const lan = { host: '10.0.0.2', port: 4000 }
  const pub = { host: '203.0.113.9', port: 4000 }

  it('offers a TCP path when there is none, and when the one in use is of a worse class than the UDP path', async () => {
    const none = session(pub, null)
    const worse = session(lan, { host: '203.0.113.9', port: 39000 })
    paths.manage(none)
    paths.manage(worse)
    await waitFor(() => none.offers === 1 && worse.offers === 1, { timeoutMs: 2_000, what: 'both offers' })
  })

  it('leaves a TCP path of the same class alone', async () => {
    const same = session(lan, { host: '10.0.0.2', port: 39000 })
    const asGood = session(pub, { host: '203.0.113.9', port: 39000 })
    const marker = session(pub, null)
    paths.manage(same)
    paths.manage(asGood)
    paths.manage(marker)
    // The marker's offer shows the others' turns have come and gone.
    await waitFor(() => marker.offers === 1, { timeoutMs: 2_000, what: 'the marker offer' })
    expect([same.offers, asGood.offers]).toEqual([0, 0])
  })
})
