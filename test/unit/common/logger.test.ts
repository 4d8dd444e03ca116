// The logger: JSON to stdout under systemd, readable lines on a terminal, and secrets redacted
// wherever they appear in a line's fields.
import { describe, expect, it } from 'vitest'
import { createLogger, formatPretty, logTarget } from '../../../common/logger.js'

function capture(): { lines: string[]; write: (s: string) => void } {
  const lines: string[] = []
  return { lines, write: (s: string) => void lines.push(s) }
}

describe('logTarget', () => {
  it('JSON on stdout under systemd, pretty on a terminal, JSON on stderr otherwise', () => {
    expect(logTarget({ JOURNAL_STREAM: '8:1234' }, true)).toEqual({ format: 'json', fd: 1 })
    expect(logTarget({ INVOCATION_ID: 'abc' }, false)).toEqual({ format: 'json', fd: 1 })
    expect(logTarget({}, true)).toEqual({ format: 'pretty', fd: 2 })
    expect(logTarget({}, false)).toEqual({ format: 'json', fd: 2 })
  })
})

describe('redaction', () => {
  const SECRET = 'f00dfacecafebeef'
  it.each([
    ['token', { token: SECRET }],
    ['nested token', { api: { token: SECRET } }],
    ['apiToken', { apiToken: SECRET }],
    ['secret key', { keyPair: { publicKey: 'pub', secretKey: SECRET } }],
    ['deep secret key', { deps: { keyPair: { secretKey: SECRET } } }],
    ['seed', { seed: SECRET }],
    ['authorization header', { req: { headers: { authorization: `Bearer ${SECRET}` } } }],
    ['bare authorization', { authorization: `Bearer ${SECRET}` }],
  ])('never writes %s', (_what, fields) => {
    const out = capture()
    const log = createLogger({ name: 't', destination: out })
    log.info(fields, 'something happened')
    log.child({ component: 'c' }).warn(fields, 'again, from a child')
    expect(out.lines).toHaveLength(2)
    for (const l of out.lines) {
      expect(l).not.toContain(SECRET)
      expect(l).toContain('[redacted]')
    }
  })

  it('keeps the public key and other fields', () => {
    const out = capture()
    createLogger({ name: 't', destination: out }).info({ keyPair: { publicKey: 'pub', secretKey: 'x' }, peer: 'bob' }, 'm')
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ keyPair: { publicKey: 'pub', secretKey: '[redacted]' }, peer: 'bob', msg: 'm' })
  })
})

describe('formatPretty', () => {
  it('prints time, level, component, message and the other fields', () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), pid: 1, name: 'p2pd', component: 'peers', peer: 'bob', rttMs: 1.5, note: 'two words', msg: 'path changed' })
    expect(formatPretty(line)).toBe('03:04:05.006 WARN  peers: path changed peer=bob rttMs=1.5 note="two words"\n')
  })

  it('shows an error message and its stack', () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n    at x (y.js:1:1)' } })
    expect(formatPretty(line)).toBe('00:00:00.000 ERROR failed err="boom"\n    at x (y.js:1:1)\n')
  })

  it('passes through what is not JSON', () => {
    expect(formatPretty('plain')).toBe('plain\n')
  })
})
