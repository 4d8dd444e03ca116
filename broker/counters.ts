// What the broker has seen and done, for /stats. Plain numbers; no I/O.

/** Why a datagram was dropped without an answer (a ProtocolError code or one of these). */
export type DropReason =
  | 'RATE_LIMITED' // the source IP ran out of tokens
  | 'NOT_SERVED' // a well-formed message of a type peers send each other, not to a broker
  | 'AMPLIFICATION' // the answer would be longer than the request, to an unverified address
  | 'SEND_FAILED' // the socket refused the answer
  | 'INTERNAL' // a handler threw: a bug, counted and logged rather than crashing
  | (string & {})

/** JSON shape of GET /stats. */
export interface StatsSnapshot {
  uptimeS: number
  received: number
  sent: number
  dropped: Record<string, number>
  refused: Record<string, number>
  registrations: number
  introductions: number
  names: number
}

/** Monotonic counters of the broker's traffic. */
export class Counters {
  /** Datagrams received on any listener. */
  received = 0
  /** Datagrams sent. */
  sent = 0
  /** Introductions made (a retried CONNECT answered again counts once). */
  introductions = 0
  private readonly dropped = new Map<string, number>()
  private readonly refused = new Map<string, number>()

  /** Count a datagram dropped for `reason`. */
  drop(reason: DropReason): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1)
  }

  /** Count a request answered with an ERROR, by its BrokerErrorCode name. */
  refuse(code: string): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + 1)
  }

  /** Total dropped, all reasons. */
  droppedTotal(): number {
    let n = 0
    for (const v of this.dropped.values()) n += v
    return n
  }

  /** Dropped count for one reason. */
  droppedFor(reason: DropReason): number {
    return this.dropped.get(reason) ?? 0
  }

  /** Refused count for one error code name. */
  refusedFor(code: string): number {
    return this.refused.get(code) ?? 0
  }

  /** The JSON served at /stats; gauges come from the registry. */
  snapshot(gauges: { uptimeS: number; registrations: number; names: number }): StatsSnapshot {
    return {
      uptimeS: gauges.uptimeS,
      received: this.received,
      sent: this.sent,
      dropped: Object.fromEntries([...this.dropped].sort(([a], [b]) => a.localeCompare(b))),
      refused: Object.fromEntries([...this.refused].sort(([a], [b]) => a.localeCompare(b))),
      registrations: gauges.registrations,
      introductions: this.introductions,
      names: gauges.names,
    }
  }
}
