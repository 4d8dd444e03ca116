// Getting introduced through any live broker: every configured broker holds our registration,
// so a CONNECT can go to any of them. The ones that answered last go first; a silent one gets a
// short timeout when others remain, so a dead broker costs a connect a second or two, not the
// full timeout, and is tried last next time.
import type { Introduce } from '../protocol/wire.js'
import { AppError } from '../common/errors.js'
import type { BrokerClient } from './broker-client.js'

const TIMEOUT_WITH_FALLBACK_MS = 1_500

/** Ask the registered brokers in turn for an introduction to `target`; `onTry` names each before it is asked. */
export async function introduceVia(brokers: BrokerClient[], target: Uint8Array | string, onTry: (b: BrokerClient) => void): Promise<{ broker: BrokerClient; intro: Introduce }> {
  const live = brokers.filter((b) => b.registered).sort((x, y) => Number(x.silent) - Number(y.silent))
  if (live.length === 0) {
    throw new AppError('NO_BROKER', 'not registered with any broker', brokers.length === 0 ? 'start p2pd with --broker HOST:PORT' : 'check the brokers: p2pctl status')
  }
  let offline: AppError | null = null
  let last: AppError | null = null
  for (const [i, broker] of live.entries()) {
    onTry(broker)
    try {
      return { broker, intro: await broker.connect(target, i < live.length - 1 ? TIMEOUT_WITH_FALLBACK_MS : undefined) }
    } catch (err) {
      const e = err as AppError
      // A broker that does not know the peer, or does not answer, is not the last word: the peer
      // may be registered with another one.
      if (e.code === 'PEER_OFFLINE') offline = e
      else if (e.code === 'NO_BROKER') last = e
      else throw err
    }
  }
  throw offline ?? last!
}
