// Moving a live UDX stream (under its secret-stream) to another path, in place.
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type { UDXSocket, UDXStream } from 'udx-native'
import { sameAddr, type Addr } from '../protocol/punch.js'
import { normalizeHost } from '../common/lifecycle.js'

/** Point a secret-stream's UDX stream at a new remote address (and socket), keeping its stream ids. */
export function moveRaw(s: NoiseSecretStream, socket: UDXSocket, remote: Addr): void {
  const raw = s.rawStream as unknown as UDXStream
  if (!raw || raw.destroyed || !raw.connected) return
  if (raw.socket === socket && raw.remoteHost !== null && sameAddr({ host: normalizeHost(raw.remoteHost), port: raw.remotePort }, remote)) return
  try {
    // udx returns null instead of a promise when the change completes at once.
    void Promise.resolve(raw.changeRemote(socket, raw.remoteId, remote.port, remote.host)).catch(() => {})
  } catch {
    // One change at a time: a stream still moving (e.g. relay -> direct -> relay in quick
    // succession) moves again once the change in flight lands.
    raw.once('remote-changed', () => moveRaw(s, socket, remote))
  }
}
