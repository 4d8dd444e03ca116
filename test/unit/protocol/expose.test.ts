import { describe, expect, it } from 'vitest'
import {
  findExposeRule, formatTarget, isLoopbackHost, normalizeHost, notExposedHint, parsePort, parseTarget, type AccessRequest, type ExposeRule,
} from '../../../protocol/expose.js'

const ALICE = 'a'.repeat(64)
const BOB = 'b'.repeat(64)
const CAROL = 'c'.repeat(64)

const rule = (over: Partial<ExposeRule>): ExposeRule => ({ id: 'r1', proto: 'tcp', host: 'localhost', port: 8080, peer: ALICE, ...over })
const req = (over: Partial<AccessRequest>): AccessRequest => ({ proto: 'tcp', host: 'localhost', port: 8080, peerKey: ALICE, ...over })

describe('findExposeRule', () => {
  it('denies by default', () => {
    expect(findExposeRule([], req({}))).toBeNull()
  })

  it('admits the named peer to exactly its host, port and proto', () => {
    const r = rule({})
    expect(findExposeRule([r], req({}))).toBe(r)
    expect(findExposeRule([r], req({ peerKey: BOB }))).toBeNull()
    expect(findExposeRule([r], req({ port: 8081 }))).toBeNull()
    expect(findExposeRule([r], req({ proto: 'udp' }))).toBeNull()
    expect(findExposeRule([r], req({ host: '10.0.0.5' }))).toBeNull()
  })

  it('lets * admit any authenticated peer', () => {
    const r = rule({ peer: '*' })
    for (const k of [ALICE, BOB, CAROL]) expect(findExposeRule([r], req({ peerKey: k }))).toBe(r)
  })

  it('never treats a requester key of "*" or "" as a wildcard', () => {
    const r = rule({ peer: '*' })
    expect(findExposeRule([r], req({ peerKey: '*' }))).toBeNull()
    expect(findExposeRule([r], req({ peerKey: '' }))).toBeNull()
    expect(findExposeRule([rule({ peer: '' })], req({ peerKey: '' }))).toBeNull()
  })

  it('prefers a rule for the exact peer over a wildcard, whatever the order', () => {
    const any = rule({ id: 'any', peer: '*' })
    const mine = rule({ id: 'mine' })
    expect(findExposeRule([any, mine], req({}))?.id).toBe('mine')
    expect(findExposeRule([mine, any], req({}))?.id).toBe('mine')
    expect(findExposeRule([any, mine], req({ peerKey: BOB }))?.id).toBe('any')
  })

  it('compares peer keys case-insensitively', () => {
    const r = rule({ peer: 'AB'.repeat(32) })
    expect(findExposeRule([r], req({ peerKey: 'ab'.repeat(32) }))).toBe(r)
    expect(findExposeRule([rule({ peer: 'ab'.repeat(32) })], req({ peerKey: 'AB'.repeat(32) }))).not.toBeNull()
  })

  it('treats localhost, 127.0.0.1 and ::1 as the same loopback target, both ways', () => {
    const names = ['localhost', '127.0.0.1', '::1', '[::1]', 'LOCALHOST', '0:0:0:0:0:0:0:1']
    for (const ruleHost of names) {
      for (const asked of names) expect(findExposeRule([rule({ host: ruleHost })], req({ host: asked })), `${ruleHost} vs ${asked}`).not.toBeNull()
    }
  })

  it('keeps loopback apart from other hosts, and other 127/8 addresses apart from loopback', () => {
    expect(findExposeRule([rule({ host: 'localhost' })], req({ host: '0.0.0.0' }))).toBeNull()
    expect(findExposeRule([rule({ host: 'localhost' })], req({ host: '127.0.0.2' }))).toBeNull()
    expect(findExposeRule([rule({ host: '10.0.0.5' })], req({ host: 'localhost' }))).toBeNull()
  })

  it('matches other hosts exactly, hostnames case-insensitively', () => {
    expect(findExposeRule([rule({ host: '10.0.0.5' })], req({ host: '10.0.0.5' }))).not.toBeNull()
    expect(findExposeRule([rule({ host: '10.0.0.5' })], req({ host: '10.0.0.50' }))).toBeNull()
    expect(findExposeRule([rule({ host: 'DB.lan' })], req({ host: 'db.LAN' }))).not.toBeNull()
    expect(findExposeRule([rule({ host: 'db.lan' })], req({ host: 'db.lan.evil' }))).toBeNull()
    expect(findExposeRule([rule({ host: 'fe80::1' })], req({ host: '[FE80::1]' }))).not.toBeNull()
  })

  it('refuses requests for impossible ports even against a matching rule', () => {
    expect(findExposeRule([rule({ port: 0 })], req({ port: 0 }))).toBeNull()
    expect(findExposeRule([rule({ port: 70000 })], req({ port: 70000 }))).toBeNull()
  })
})

describe('notExposedHint', () => {
  it('names the command to run on the target machine', () => {
    expect(notExposedHint('bob', 'alice', 'tcp', 'localhost', 8080)).toBe('on bob run: p2pctl expose 8080 --peer alice')
    expect(notExposedHint('bob', 'alice', 'tcp', '127.0.0.1', 8080)).toBe('on bob run: p2pctl expose 8080 --peer alice')
  })

  it('adds --udp for UDP', () => {
    expect(notExposedHint('bob', 'alice', 'udp', 'localhost', 53)).toBe('on bob run: p2pctl expose 53 --peer alice --udp')
  })

  it('includes the host when it is not loopback', () => {
    expect(notExposedHint('bob', 'alice', 'tcp', '10.0.0.5', 8080)).toBe('on bob run: p2pctl expose 10.0.0.5:8080 --peer alice')
    expect(notExposedHint('bob', 'alice', 'udp', 'db.lan', 5432)).toBe('on bob run: p2pctl expose db.lan:5432 --peer alice --udp')
    expect(notExposedHint('bob', 'alice', 'tcp', 'fe80::1', 22)).toBe(`on bob run: p2pctl expose '[fe80::1]:22' --peer alice`)
  })

  it('quotes anything a shell would mangle', () => {
    expect(notExposedHint('bob', "o'brien laptop", 'tcp', 'localhost', 1)).toBe(`on bob run: p2pctl expose 1 --peer 'o'\\''brien laptop'`)
    expect(notExposedHint('bob', ALICE, 'tcp', 'localhost', 1)).toBe(`on bob run: p2pctl expose 1 --peer ${ALICE}`)
  })
})

describe('parseTarget and friends', () => {
  it('parses PORT with the default host', () => {
    expect(parseTarget('8080', 'localhost')).toEqual({ host: 'localhost', port: 8080 })
    expect(parseTarget(' 22 ', '127.0.0.1')).toEqual({ host: '127.0.0.1', port: 22 })
  })

  it('parses HOST:PORT, including bracketed IPv6', () => {
    expect(parseTarget('10.0.0.5:8080', 'localhost')).toEqual({ host: '10.0.0.5', port: 8080 })
    expect(parseTarget('db.lan:5432', 'localhost')).toEqual({ host: 'db.lan', port: 5432 })
    expect(parseTarget('[::1]:22', 'localhost')).toEqual({ host: '::1', port: 22 })
    expect(parseTarget('[fe80::1%eth0]:22', 'localhost')).toEqual({ host: 'fe80::1%eth0', port: 22 })
  })

  it('refuses malformed targets', () => {
    const bad = ['', ':8080', 'host:', 'host:0', 'host:65536', 'host:80a', 'host:-1', 'host:1e3', 'host:0x50', '99999', '8080.5',
      '::1:22', '[::1]22', '[::1]', '[10.0.0.1]:22', 'a b:22', '[]:22', '[::1:22']
    for (const s of bad) expect(parseTarget(s, 'localhost'), JSON.stringify(s)).toBeNull()
  })

  it('parses ports strictly', () => {
    expect(parsePort('1')).toBe(1)
    expect(parsePort('65535')).toBe(65535)
    for (const s of ['0', '65536', '', ' 1', '+1', '1.0', '012345']) expect(parsePort(s), s).toBeNull()
    expect(parsePort('08080')).toBe(8080)
  })

  it('formats targets back, bracketing IPv6', () => {
    expect(formatTarget('localhost', 8080)).toBe('localhost:8080')
    expect(formatTarget('::1', 22)).toBe('[::1]:22')
    expect(formatTarget('[::1]', 22)).toBe('[::1]:22')
    for (const s of ['10.0.0.5:8080', '[::1]:22', 'db.lan:5432']) {
      const t = parseTarget(s, 'x')!
      expect(formatTarget(t.host, t.port)).toBe(s)
    }
  })

  it('normalises hosts for comparison', () => {
    expect(normalizeHost(' LocalHost ')).toBe('localhost')
    expect(normalizeHost('[::1]')).toBe('localhost')
    expect(normalizeHost('DB.Lan')).toBe('db.lan')
    expect(isLoopbackHost('127.0.0.1')).toBe(true)
    expect(isLoopbackHost('127.0.0.2')).toBe(false)
  })
})
